// SPDX-License-Identifier: GPL-2.0-only
/*
 * x86 guest register patterns: the fifteen GPRs are loaded in assembly and
 * held there through a spin loop (its counter lives on the stack, so every
 * GPR but RSP carries a pattern); around it the MSRs KVM switches lazily
 * (KERNEL_GS_BASE, FS/GS base, TSC_AUX) and DR0-DR3.
 */
#include "processor.h"
#include "ucall_common.h"
#include "sched_guest.h"

#define NR_GPRS		15

/* RAX RBX RCX RDX RSI RDI RBP R8-R15, the order of vsched_regs_hold(). */
static const char * const gpr_names[NR_GPRS] = {
	"RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "R8", "R9", "R10",
	"R11", "R12", "R13", "R14", "R15",
};

asm(".text\n"
"	.global vsched_regs_hold\n"
"	.type vsched_regs_hold, @function\n"
"vsched_regs_hold:\n"
"	push	%rbx\n"
"	push	%rbp\n"
"	push	%r12\n"
"	push	%r13\n"
"	push	%r14\n"
"	push	%r15\n"
"	push	%rsi\n"
"	push	%rdx\n"
"	mov	0(%rdi), %rax\n"
"	mov	8(%rdi), %rbx\n"
"	mov	16(%rdi), %rcx\n"
"	mov	24(%rdi), %rdx\n"
"	mov	32(%rdi), %rsi\n"
"	mov	48(%rdi), %rbp\n"
"	mov	56(%rdi), %r8\n"
"	mov	64(%rdi), %r9\n"
"	mov	72(%rdi), %r10\n"
"	mov	80(%rdi), %r11\n"
"	mov	88(%rdi), %r12\n"
"	mov	96(%rdi), %r13\n"
"	mov	104(%rdi), %r14\n"
"	mov	112(%rdi), %r15\n"
"	mov	40(%rdi), %rdi\n"
"1:	decq	(%rsp)\n"
"	jnz	1b\n"
"	xchg	%rdi, 8(%rsp)\n"
"	mov	%rax, 0(%rdi)\n"
"	mov	%rbx, 8(%rdi)\n"
"	mov	%rcx, 16(%rdi)\n"
"	mov	%rdx, 24(%rdi)\n"
"	mov	%rsi, 32(%rdi)\n"
"	mov	%rbp, 48(%rdi)\n"
"	mov	%r8, 56(%rdi)\n"
"	mov	%r9, 64(%rdi)\n"
"	mov	%r10, 72(%rdi)\n"
"	mov	%r11, 80(%rdi)\n"
"	mov	%r12, 88(%rdi)\n"
"	mov	%r13, 96(%rdi)\n"
"	mov	%r14, 104(%rdi)\n"
"	mov	%r15, 112(%rdi)\n"
"	mov	8(%rsp), %rax\n"
"	mov	%rax, 40(%rdi)\n"
"	add	$16, %rsp\n"
"	pop	%r15\n"
"	pop	%r14\n"
"	pop	%r13\n"
"	pop	%r12\n"
"	pop	%rbp\n"
"	pop	%rbx\n"
"	ret\n"
"	.size vsched_regs_hold, . - vsched_regs_hold\n");

uint32_t regs_arch_classes(void)
{
	return REGS_GPR | REGS_SYSREGS | REGS_DEBUG | REGS_TSC_AUX | REGS_RDPID;
}

const char *regs_class_name(unsigned int bit)
{
	static const char * const names[REGS_NR_CLASSES] = {
		"gpr_rax_r15", "fpsimd", "msr_kernel_gs_base_fs_base_gs_base",
		"debug_dr0_dr3", "tsc_aux_rdtscp", "tsc_aux_rdpid",
	};

	return bit < REGS_NR_CLASSES ? names[bit] : "?";
}

/* A canonical 47-bit address. */
static uint64_t canonical(uint64_t v)
{
	return v & ((1ull << 47) - 1);
}

static void set_dr(unsigned int i, uint64_t v)
{
	switch (i) {
	case 0:
		asm volatile("mov %0, %%dr0" : : "r"(v));
		break;
	case 1:
		asm volatile("mov %0, %%dr1" : : "r"(v));
		break;
	case 2:
		asm volatile("mov %0, %%dr2" : : "r"(v));
		break;
	default:
		asm volatile("mov %0, %%dr3" : : "r"(v));
		break;
	}
}

static uint64_t get_dr(unsigned int i)
{
	uint64_t v;

	switch (i) {
	case 0:
		asm volatile("mov %%dr0, %0" : "=r"(v));
		break;
	case 1:
		asm volatile("mov %%dr1, %0" : "=r"(v));
		break;
	case 2:
		asm volatile("mov %%dr2, %0" : "=r"(v));
		break;
	default:
		asm volatile("mov %%dr3, %0" : "=r"(v));
		break;
	}
	return v;
}

static const uint32_t msrs[3] = { MSR_KERNEL_GS_BASE, MSR_FS_BASE, MSR_GS_BASE };
static const char * const msr_names[3] = { "KERNEL_GS_BASE", "FS_BASE", "GS_BASE" };

void guest_regs_round(uint32_t mask, uint32_t vcpu, uint64_t round, uint64_t spins)
{
	uint64_t in[NR_GPRS], out[NR_GPRS], want, got;
	uint32_t aux;
	unsigned int i;

	for (i = 0; i < NR_GPRS; i++)
		in[i] = regs_pattern(vcpu, round, i);
	for (i = 0; (mask & REGS_SYSREGS) && i < 3; i++)
		wrmsr(msrs[i], canonical(regs_pattern(vcpu, round, 100 + i)));
	for (i = 0; (mask & REGS_DEBUG) && i < 4; i++)
		set_dr(i, canonical(regs_pattern(vcpu, round, 110 + i)));
	if (mask & (REGS_TSC_AUX | REGS_RDPID))
		wrmsr(MSR_TSC_AUX, (uint32_t)regs_pattern(vcpu, round, 120));

	vsched_regs_hold(in, out, spins ? spins : 1);

	for (i = 0; (mask & REGS_SYSREGS) && i < 3; i++) {
		want = canonical(regs_pattern(vcpu, round, 100 + i));
		got = rdmsr(msrs[i]);
		__GUEST_ASSERT(got == want,
			       "vcpu%u round %lu: %s = 0x%lx after the hold, want 0x%lx",
			       vcpu, round, msr_names[i], got, want);
	}
	for (i = 0; (mask & REGS_DEBUG) && i < 4; i++) {
		want = canonical(regs_pattern(vcpu, round, 110 + i));
		got = get_dr(i);
		__GUEST_ASSERT(got == want,
			       "vcpu%u round %lu: DR%u = 0x%lx after the hold, want 0x%lx",
			       vcpu, round, i, got, want);
	}
	want = (uint32_t)regs_pattern(vcpu, round, 120);
	if (mask & REGS_TSC_AUX) {
		rdtscp(&aux);
		__GUEST_ASSERT(aux == want,
			       "vcpu%u round %lu: RDTSCP read TSC_AUX 0x%x, want 0x%lx",
			       vcpu, round, aux, want);
	}
	if (mask & REGS_RDPID) {
		asm volatile("rdpid %0" : "=r"(got));
		__GUEST_ASSERT(got == want,
			       "vcpu%u round %lu: RDPID read TSC_AUX 0x%lx, want 0x%lx",
			       vcpu, round, got, want);
	}
	for (i = 0; (mask & REGS_GPR) && i < NR_GPRS; i++)
		__GUEST_ASSERT(out[i] == in[i],
			       "vcpu%u round %lu: %s = 0x%lx after the hold, want 0x%lx",
			       vcpu, round, gpr_names[i], out[i], in[i]);
}
