// SPDX-License-Identifier: GPL-2.0-only
/*
 * arm64 guest register patterns: X1-X30 and V0-V31 are loaded in assembly
 * and held there through a spin loop (the compiler cannot touch them in
 * between), the EL0/EL1 thread and context registers around it.
 */
#include "processor.h"
#include "ucall_common.h"
#include "sched_guest.h"

struct regs_buf {
	uint64_t x[32];		/* X1..X30 used */
	uint64_t v[64];		/* V0..V31, two halves each */
};

asm(".text\n"
"	.global vsched_regs_hold\n"
"	.type vsched_regs_hold, %function\n"
"vsched_regs_hold:\n"
"	stp	x29, x30, [sp, #-176]!\n"
"	stp	x19, x20, [sp, #16]\n"
"	stp	x21, x22, [sp, #32]\n"
"	stp	x23, x24, [sp, #48]\n"
"	stp	x25, x26, [sp, #64]\n"
"	stp	x27, x28, [sp, #80]\n"
"	stp	d8, d9, [sp, #96]\n"
"	stp	d10, d11, [sp, #112]\n"
"	stp	d12, d13, [sp, #128]\n"
"	stp	d14, d15, [sp, #144]\n"
"	stp	x1, x2, [sp, #160]\n"
"	add	x1, x0, #256\n"
"	ld1	{v0.2d-v3.2d}, [x1], #64\n"
"	ld1	{v4.2d-v7.2d}, [x1], #64\n"
"	ld1	{v8.2d-v11.2d}, [x1], #64\n"
"	ld1	{v12.2d-v15.2d}, [x1], #64\n"
"	ld1	{v16.2d-v19.2d}, [x1], #64\n"
"	ld1	{v20.2d-v23.2d}, [x1], #64\n"
"	ld1	{v24.2d-v27.2d}, [x1], #64\n"
"	ld1	{v28.2d-v31.2d}, [x1], #64\n"
"	ldr	x1, [x0, #8]\n"
"	ldp	x2, x3, [x0, #16]\n"
"	ldp	x4, x5, [x0, #32]\n"
"	ldp	x6, x7, [x0, #48]\n"
"	ldp	x8, x9, [x0, #64]\n"
"	ldp	x10, x11, [x0, #80]\n"
"	ldp	x12, x13, [x0, #96]\n"
"	ldp	x14, x15, [x0, #112]\n"
"	ldp	x16, x17, [x0, #128]\n"
"	ldp	x18, x19, [x0, #144]\n"
"	ldp	x20, x21, [x0, #160]\n"
"	ldp	x22, x23, [x0, #176]\n"
"	ldp	x24, x25, [x0, #192]\n"
"	ldp	x26, x27, [x0, #208]\n"
"	ldp	x28, x29, [x0, #224]\n"
"	ldr	x30, [x0, #240]\n"
"	ldr	x0, [sp, #168]\n"
"1:	subs	x0, x0, #1\n"
"	b.ne	1b\n"
"	ldr	x0, [sp, #160]\n"
"	str	x1, [x0, #8]\n"
"	stp	x2, x3, [x0, #16]\n"
"	stp	x4, x5, [x0, #32]\n"
"	stp	x6, x7, [x0, #48]\n"
"	stp	x8, x9, [x0, #64]\n"
"	stp	x10, x11, [x0, #80]\n"
"	stp	x12, x13, [x0, #96]\n"
"	stp	x14, x15, [x0, #112]\n"
"	stp	x16, x17, [x0, #128]\n"
"	stp	x18, x19, [x0, #144]\n"
"	stp	x20, x21, [x0, #160]\n"
"	stp	x22, x23, [x0, #176]\n"
"	stp	x24, x25, [x0, #192]\n"
"	stp	x26, x27, [x0, #208]\n"
"	stp	x28, x29, [x0, #224]\n"
"	str	x30, [x0, #240]\n"
"	add	x0, x0, #256\n"
"	st1	{v0.2d-v3.2d}, [x0], #64\n"
"	st1	{v4.2d-v7.2d}, [x0], #64\n"
"	st1	{v8.2d-v11.2d}, [x0], #64\n"
"	st1	{v12.2d-v15.2d}, [x0], #64\n"
"	st1	{v16.2d-v19.2d}, [x0], #64\n"
"	st1	{v20.2d-v23.2d}, [x0], #64\n"
"	st1	{v24.2d-v27.2d}, [x0], #64\n"
"	st1	{v28.2d-v31.2d}, [x0], #64\n"
"	ldp	d14, d15, [sp, #144]\n"
"	ldp	d12, d13, [sp, #128]\n"
"	ldp	d10, d11, [sp, #112]\n"
"	ldp	d8, d9, [sp, #96]\n"
"	ldp	x27, x28, [sp, #80]\n"
"	ldp	x25, x26, [sp, #64]\n"
"	ldp	x23, x24, [sp, #48]\n"
"	ldp	x21, x22, [sp, #32]\n"
"	ldp	x19, x20, [sp, #16]\n"
"	ldp	x29, x30, [sp], #176\n"
"	ret\n"
"	.size vsched_regs_hold, . - vsched_regs_hold\n");

uint32_t regs_arch_classes(void)
{
	return REGS_GPR | REGS_FPSIMD | REGS_SYSREGS;
}

const char *regs_class_name(unsigned int bit)
{
	static const char * const names[REGS_NR_CLASSES] = {
		"gpr_x1_x30", "fpsimd_v0_v31",
		"tpidr_el0_tpidrro_el0_tpidr_el1_sp_el0_contextidr_el1",
		"debug", "tsc_aux", "rdpid",
	};

	return bit < REGS_NR_CLASSES ? names[bit] : "?";
}

#define NR_SYSREGS	5

static void sysregs_write(const uint64_t *v)
{
	write_sysreg(v[0], tpidr_el0);
	write_sysreg(v[1], tpidrro_el0);
	write_sysreg(v[2], tpidr_el1);
	write_sysreg(v[3], sp_el0);
	write_sysreg(v[4], contextidr_el1);
	isb();
}

static void sysregs_read(uint64_t *v)
{
	v[0] = read_sysreg(tpidr_el0);
	v[1] = read_sysreg(tpidrro_el0);
	v[2] = read_sysreg(tpidr_el1);
	v[3] = read_sysreg(sp_el0);
	v[4] = read_sysreg(contextidr_el1);
}

void guest_regs_round(uint32_t mask, uint32_t vcpu, uint64_t round, uint64_t spins)
{
	static const char * const sysreg_names[NR_SYSREGS] = {
		"TPIDR_EL0", "TPIDRRO_EL0", "TPIDR_EL1", "SP_EL0", "CONTEXTIDR_EL1",
	};
	uint64_t want[NR_SYSREGS], got[NR_SYSREGS], saved[NR_SYSREGS];
	struct regs_buf in = {}, out = {};
	unsigned int i;

	for (i = 1; i <= 30; i++)
		in.x[i] = regs_pattern(vcpu, round, i);
	for (i = 0; i < 64; i++)
		in.v[i] = regs_pattern(vcpu, round, 32 + i);
	for (i = 0; i < NR_SYSREGS; i++)
		want[i] = regs_pattern(vcpu, round, 100 + i);
	want[4] &= 0xffffffffull;	/* CONTEXTIDR_EL1.PROCID, the rest is RES0 */

	/* TPIDR_EL1 holds the vCPU id for the selftest library: put it back. */
	if (mask & REGS_SYSREGS) {
		sysregs_read(saved);
		sysregs_write(want);
	}

	vsched_regs_hold(&in, &out, spins ? spins : 1);

	if (mask & REGS_SYSREGS) {
		sysregs_read(got);
		sysregs_write(saved);
		for (i = 0; i < NR_SYSREGS; i++)
			__GUEST_ASSERT(got[i] == want[i],
				       "vcpu%u round %lu: %s = 0x%lx after the hold, want 0x%lx",
				       vcpu, round, sysreg_names[i], got[i], want[i]);
	}
	for (i = 1; (mask & REGS_GPR) && i <= 30; i++)
		__GUEST_ASSERT(out.x[i] == in.x[i],
			       "vcpu%u round %lu: X%u = 0x%lx after the hold, want 0x%lx",
			       vcpu, round, i, out.x[i], in.x[i]);
	for (i = 0; (mask & REGS_FPSIMD) && i < 64; i++)
		__GUEST_ASSERT(out.v[i] == in.v[i],
			       "vcpu%u round %lu: V%u.D[%u] = 0x%lx after the hold, want 0x%lx",
			       vcpu, round, i / 2, i % 2, out.v[i], in.v[i]);
}
