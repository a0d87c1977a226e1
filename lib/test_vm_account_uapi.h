/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Interface of the vm_account test driver (lib/test_vm_account.c), shared
 * with its selftests. Not a stable ABI: test-only.
 *
 * Opening /dev/vm_account_test sets up a struct vm_account for the opening
 * task, as a driver does when its device is opened: the charges of every pin
 * made through the file go to the rlimit counter and the pins cgroup of that
 * task, whoever makes or releases the pin later.
 */
#ifndef _LIB_TEST_VM_ACCOUNT_UAPI_H
#define _LIB_TEST_VM_ACCOUNT_UAPI_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/* VM_ACCOUNT_TEST_MODE flags. */
/* Charge the rlimit to the opener's user->locked_vm, not mm->pinned_vm. */
#define VM_ACCOUNT_TEST_USER		_BITUL(0)
/* Skip the rlimit as a site that cached CAP_IPC_LOCK at open would. */
#define VM_ACCOUNT_TEST_BYPASS		_BITUL(1)

/**
 * struct vm_account_test_pin - a range to pin
 * @addr: page-aligned user address
 * @npages: number of pages
 * @id: set by VM_ACCOUNT_TEST_PIN to the id VM_ACCOUNT_TEST_UNPIN takes
 */
struct vm_account_test_pin {
	__u64 addr;
	__u64 npages;
	__u64 id;
};

/* Re-initialise the file's vm_account with these flags; only before a pin. */
#define VM_ACCOUNT_TEST_MODE	_IOW('V', 0, __u32)
/*
 * Charge @npages through the file's vm_account, then pin the range with
 * pin_user_pages(FOLL_LONGTERM | FOLL_WRITE). Fails with ENOMEM and changes
 * no counter when the rlimit or a pins.max refuses.
 */
#define VM_ACCOUNT_TEST_PIN	_IOWR('V', 1, struct vm_account_test_pin)
/* Unpin the range with this id and uncharge it. */
#define VM_ACCOUNT_TEST_UNPIN	_IOW('V', 2, __u64)

#endif /* _LIB_TEST_VM_ACCOUNT_UAPI_H */
