// SPDX-License-Identifier: GPL-2.0
/*
 * Test driver for vm_account: pins user memory the way a DMA driver does,
 * without hardware, so the selftests can check what a pin charges and where
 * the charge goes. See lib/test_vm_account_uapi.h for the interface.
 *
 * Each open file has one vm_account, set up for the task that opens it, as
 * RDMA or VFIO set theirs up when their device is opened. Pins are charged
 * through it before pin_user_pages(FOLL_LONGTERM) and uncharged after the
 * pages are unpinned; close() releases whatever is left.
 */

#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vm_account.h>

#include "test_vm_account_uapi.h"

/* Enough for any test; keeps a bad request from asking for a huge array. */
#define VMAT_MAX_PAGES	BIT(16)

struct vmat_region {
	struct list_head node;
	u64 id;
	unsigned long npages;
	struct page **pages;
};

struct vmat_file {
	struct mutex lock;		/* protects everything below */
	struct vm_account acct;
	struct list_head regions;
	u64 next_id;
};

static int vmat_open(struct inode *inode, struct file *file)
{
	struct vmat_file *vf;

	vf = kzalloc(sizeof(*vf), GFP_KERNEL);
	if (!vf)
		return -ENOMEM;
	mutex_init(&vf->lock);
	INIT_LIST_HEAD(&vf->regions);
	vm_account_init_current(&vf->acct, PINS_SOURCE_OTHER);
	file->private_data = vf;
	return 0;
}

static void vmat_unpin(struct vmat_file *vf, struct vmat_region *r)
{
	unpin_user_pages(r->pages, r->npages);
	vm_unaccount_pinned(&vf->acct, r->npages);
	list_del(&r->node);
	kvfree(r->pages);
	kfree(r);
}

static int vmat_release(struct inode *inode, struct file *file)
{
	struct vmat_file *vf = file->private_data;
	struct vmat_region *r, *tmp;

	list_for_each_entry_safe(r, tmp, &vf->regions, node)
		vmat_unpin(vf, r);
	vm_account_release(&vf->acct);
	mutex_destroy(&vf->lock);
	kfree(vf);
	return 0;
}

static long vmat_set_mode(struct vmat_file *vf, u32 __user *uflags)
{
	enum vm_account_flags flags = VM_ACCOUNT_TASK;
	u32 mode;

	if (get_user(mode, uflags))
		return -EFAULT;
	if (mode & ~(VM_ACCOUNT_TEST_USER | VM_ACCOUNT_TEST_BYPASS))
		return -EINVAL;
	if (!list_empty(&vf->regions))
		return -EBUSY;
	if (mode & VM_ACCOUNT_TEST_USER)
		flags |= VM_ACCOUNT_USER;
	if (mode & VM_ACCOUNT_TEST_BYPASS)
		flags |= VM_ACCOUNT_BYPASS;
	vm_account_release(&vf->acct);
	vm_account_init(&vf->acct, PINS_SOURCE_OTHER, current, current_user(),
			flags);
	return 0;
}

static long vmat_pin(struct vmat_file *vf, struct vm_account_test_pin __user *uarg)
{
	struct vm_account_test_pin arg;
	struct vmat_region *r;
	long pinned;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!arg.npages || arg.npages > VMAT_MAX_PAGES ||
	    !PAGE_ALIGNED(arg.addr))
		return -EINVAL;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->npages = arg.npages;
	r->pages = kvmalloc_array(r->npages, sizeof(*r->pages), GFP_KERNEL);
	if (!r->pages) {
		ret = -ENOMEM;
		goto free_region;
	}

	/* Charge first: a refused charge must not pin anything. */
	ret = vm_account_pinned(&vf->acct, r->npages);
	if (ret)
		goto free_pages;

	pinned = pin_user_pages_fast(arg.addr, r->npages,
				     FOLL_WRITE | FOLL_LONGTERM, r->pages);
	if (pinned != r->npages) {
		if (pinned > 0)
			unpin_user_pages(r->pages, pinned);
		ret = pinned < 0 ? pinned : -EFAULT;
		goto uncharge;
	}

	r->id = vf->next_id++;
	arg.id = r->id;
	if (copy_to_user(uarg, &arg, sizeof(arg))) {
		unpin_user_pages(r->pages, r->npages);
		ret = -EFAULT;
		goto uncharge;
	}
	list_add_tail(&r->node, &vf->regions);
	return 0;

uncharge:
	vm_unaccount_pinned(&vf->acct, r->npages);
free_pages:
	kvfree(r->pages);
free_region:
	kfree(r);
	return ret;
}

static long vmat_unpin_id(struct vmat_file *vf, u64 __user *uid)
{
	struct vmat_region *r;
	u64 id;

	if (get_user(id, uid))
		return -EFAULT;
	list_for_each_entry(r, &vf->regions, node) {
		if (r->id == id) {
			vmat_unpin(vf, r);
			return 0;
		}
	}
	return -EINVAL;
}

static long vmat_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct vmat_file *vf = file->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	mutex_lock(&vf->lock);
	switch (cmd) {
	case VM_ACCOUNT_TEST_MODE:
		ret = vmat_set_mode(vf, uarg);
		break;
	case VM_ACCOUNT_TEST_PIN:
		ret = vmat_pin(vf, uarg);
		break;
	case VM_ACCOUNT_TEST_UNPIN:
		ret = vmat_unpin_id(vf, uarg);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	mutex_unlock(&vf->lock);
	return ret;
}

static const struct file_operations vmat_fops = {
	.owner		= THIS_MODULE,
	.open		= vmat_open,
	.release	= vmat_release,
	.unlocked_ioctl	= vmat_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice vmat_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "vm_account_test",
	.fops	= &vmat_fops,
	.mode	= 0600,
};
module_misc_device(vmat_misc);

MODULE_DESCRIPTION("vm_account test driver");
MODULE_LICENSE("GPL");
