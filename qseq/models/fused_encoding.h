/* The product-state encoding of the fused QLSTM layer's banks, shared by its two kernels
 * (fused_kernel.c, fused_lanes_kernel.c): each wire q of an encoded value p_q is in the state
 * z_q(s) = sin(alpha_q a_q + off_q(s)) exp(i (s - 1/2) hz_q b_q), a = arctan p, b = arctan p^2. */
#ifndef QSEQ_FUSED_ENCODING_H
#define QSEQ_FUSED_ENCODING_H

#include "_native.h"

/* Per-wire factors of the product state for encoded values p (n): z (n,2,[re,im]) and, when dz is
   given, dz (n,2,[re,im]) = dz_q(t)/da_q and the phase slopes k (n,2) with dz_q(t)/db_q = i k z_q(t).
   With a = arctan p and b = arctan p^2 the half-angle sines and cosines are algebraic (square roots
   instead of arctan, sin and cos): cos(a/2) = sqrt((1 + cos a) / 2), sin(a/2) = sin a / (2 cos(a/2)),
   cos a = 1 / sqrt(1 + p^2), sin a = p cos a; likewise for b. alpha is 1/2 (RY) or 0, hz 1 or 0. */
static void wire_factors(int n, const real *p, const real *alpha, const real *off, const real *hz, real *z,
                         real *dz, real *k, real *a_slope, real *b_slope) {
    for (int q = 0; q < n; q++) {
        const real pq = p[q], p2 = pq * pq;
        real sx = 0, cx = 1, ps = 0, pc = 1; /* sin, cos of alpha a and of b / 2 */
        if (alpha[q] != 0) {
            const real cos_a = 1 / SQRT(1 + p2);
            cx = SQRT((1 + cos_a) / 2);
            sx = pq * cos_a / (2 * cx);
        }
        if (hz[q] != 0) {
            const real cos_b = 1 / SQRT(1 + p2 * p2);
            pc = SQRT((1 + cos_b) / 2);
            ps = p2 * cos_b / (2 * pc);
        }
        if (a_slope) {
            a_slope[q] = 1 / (1 + p2);              /* da/dp */
            b_slope[q] = 2 * pq / (1 + p2 * p2);    /* db/dp */
        }
        for (int t = 0; t < 2; t++) { /* off (n, 4): sin c_0, sin c_1, cos c_0, cos c_1 */
            const real so = off[4 * q + t], co = off[4 * q + 2 + t];
            const real m = sx * co + cx * so;           /* sin(alpha a + c_t) */
            const real sn = t ? ps : -ps;               /* phase (t - 1/2) hz b */
            z[4 * q + 2 * t] = m * pc;
            z[4 * q + 2 * t + 1] = m * sn;
            if (dz) {
                const real dm = alpha[q] * (cx * co - sx * so);
                dz[4 * q + 2 * t] = dm * pc;
                dz[4 * q + 2 * t + 1] = dm * sn;
                k[2 * q + t] = (t - (real)0.5) * hz[q];
            }
        }
    }
}

#endif
