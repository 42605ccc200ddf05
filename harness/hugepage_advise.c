// SPDX-License-Identifier: GPL-2.0-only
/*
 * hugepage_advise.so - preloaded (LD_PRELOAD) into the kernel and suite
 * builds: an anonymous private mmap() of 2 MiB or more is also advised
 * MADV_HUGEPAGE, so that transparent huge pages back it when the host's THP
 * mode is "madvise" (Debian's default).
 *
 * Why: gcc's cc1 takes its garbage-collected heap from anonymous mmap() in
 * 2 MiB chunks and clears what it allocates.  Where page faults and TLB
 * misses are dear (a VM: compiling kernel/sched/core.c here, cc1 spent a
 * tenth of its CPU in page faults), one fault a 2 MiB chunk instead of 512
 * cut the CPU of compiling the arm64 kernel's kernel/ and mm/ by 21-32%.
 * glibc's own heap is covered by the tunable glibc.malloc.hugetlb=1, set
 * beside this (harness/kernel.sh).
 *
 * It is advice only: the objects built are bit-identical, and a host without
 * THP, or with THP "never", refuses it while the mapping still succeeds.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define ADVISE_FROM (2UL << 20)

/* The system call itself: the preload has no libc mmap() of its own to call. */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);

	if (p != MAP_FAILED && (flags & MAP_ANONYMOUS) && (flags & MAP_PRIVATE) &&
	    len >= ADVISE_FROM)
		madvise(p, len, MADV_HUGEPAGE);
	return p;
}

/* The same call on a 64-bit host, where a program may use either name. */
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}
