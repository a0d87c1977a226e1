// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only hook for the pins controller's charge path.
 *
 * /sys/kernel/debug/pins_test lets a selftest charge and uncharge the pins
 * cgroup through the same functions the rest of the kernel calls, before any
 * real pinning site does. Each open file takes a reference on the pins
 * cgroup of the task that opens it and keeps its charges there, wherever the
 * task or the file goes afterwards; close() returns whatever is left.
 *
 *   write "charge N"    charge N pages (-ENOMEM when a pins.max refuses)
 *   write "uncharge N"  return N pages charged through this file
 *   read                pages currently charged through this file
 *
 * Not for production kernels: CONFIG_CGROUP_PINS_TEST_HOOK.
 */

#include <linux/cgroup_pins.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

struct pins_test_file {
	struct pins_cgroup *pins;
	struct mutex lock;	/* protects @charged */
	unsigned long charged;	/* pages charged through this file */
};

static int pins_test_open(struct inode *inode, struct file *file)
{
	struct pins_test_file *pf;

	pf = kzalloc(sizeof(*pf), GFP_KERNEL);
	if (!pf)
		return -ENOMEM;
	mutex_init(&pf->lock);
	pf->pins = pins_cgroup_get(current);
	file->private_data = pf;
	return 0;
}

static int pins_test_release(struct inode *inode, struct file *file)
{
	struct pins_test_file *pf = file->private_data;

	pins_cgroup_uncharge(pf->pins, PINS_SOURCE_OTHER, pf->charged);
	pins_cgroup_put(pf->pins);
	mutex_destroy(&pf->lock);
	kfree(pf);
	return 0;
}

static ssize_t pins_test_write(struct file *file, const char __user *ubuf,
			       size_t len, loff_t *ppos)
{
	struct pins_test_file *pf = file->private_data;
	char buf[40], *arg;
	unsigned long npages;
	bool charge;
	int ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	arg = strim(buf);

	if (str_has_prefix(arg, "charge ")) {
		charge = true;
		arg += strlen("charge ");
	} else if (str_has_prefix(arg, "uncharge ")) {
		charge = false;
		arg += strlen("uncharge ");
	} else {
		return -EINVAL;
	}
	ret = kstrtoul(arg, 10, &npages);
	if (ret)
		return ret;

	mutex_lock(&pf->lock);
	if (charge) {
		if (npages > ULONG_MAX - pf->charged) {
			ret = -EINVAL;
		} else {
			ret = pins_cgroup_try_charge(pf->pins, PINS_SOURCE_OTHER,
						     npages);
			if (!ret)
				pf->charged += npages;
		}
	} else if (npages > pf->charged) {
		ret = -EINVAL;
	} else {
		pins_cgroup_uncharge(pf->pins, PINS_SOURCE_OTHER, npages);
		pf->charged -= npages;
	}
	mutex_unlock(&pf->lock);

	return ret ? ret : len;
}

static ssize_t pins_test_read(struct file *file, char __user *ubuf,
			      size_t len, loff_t *ppos)
{
	struct pins_test_file *pf = file->private_data;
	char buf[24];
	int n;

	mutex_lock(&pf->lock);
	n = scnprintf(buf, sizeof(buf), "%lu\n", pf->charged);
	mutex_unlock(&pf->lock);

	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static const struct file_operations pins_test_fops = {
	.owner		= THIS_MODULE,
	.open		= pins_test_open,
	.release	= pins_test_release,
	.read		= pins_test_read,
	.write		= pins_test_write,
	.llseek		= default_llseek,
};

static int __init pins_test_init(void)
{
	debugfs_create_file("pins_test", 0600, NULL, NULL, &pins_test_fops);
	return 0;
}
late_initcall(pins_test_init);
