/* Circuits with a per-sample product-state preparation and gate layers shared by the batch, the
 * batch across SIMD lanes: forward only (compiled_lanes.py).
 *
 * The N states come in groups of per_group consecutive states that share the gate layers' matrices
 * (a bank's circuit k, say, for every input vector; per_group = 1 for per-sample matrices); state r
 * is prepared from preparation row r % n_prep. Each wire's prepared state is the first column of its preparation matrix, so the
 * initial state is the product prod_q (m_q[0][0], m_q[1][0])[bit q], built directly. The stages
 * follow: Local (the 2x2 matrix m_q on every wire q, wire 0 the most significant bit) and Permute
 * (psi'[i] = phase[i] psi[source[i]]). The readout is <Z_w> = sum_i |psi_i|^2 z_w(i) for each of
 * n_z wires.
 *
 * LW consecutive states go through the circuit together, one per lane of a vector: the state is
 * held as D vectors of real parts and D of imaginary parts (amplitude i of every lane side by
 * side), and a gate multiplies whole vectors by vectors of each lane's matrix entries (its
 * scalars, broadcast, where the lanes share a group). Every gate is then full-width SIMD whatever
 * its wire, without shuffles. Adjacent
 * wires' gates are applied in one pass over the state, and a last Local stage is not applied: the
 * readout takes each read wire's matrix into its observable (z_after).
 *
 * Complex numbers in memory are interleaved (re, im) pairs of real. Compiled by qseq._native with
 * and without QSEQ_FLOAT.
 */
#include "_native.h"

typedef struct {
    int N, n, S, per_group, n_prep; /* states, wires, stages, states per matrix group, preparation rows */
    const int *kind;                /* (S) 0: Local, 1: Permute */
    const real *prep;               /* (n_prep, n, 2, 2) complex: each wire's preparation matrix */
    const real *mats;               /* (N / per_group, L, n, 2, 2) complex: the Local stages' matrices */
    const long long *source;        /* (P, D) the Permute stages' gathers, in order */
    const real *phase;              /* (P, D) complex */
    const int *phased;              /* (P) whether a gather's phases differ from 1 */
    int n_z;                        /* the observables' count */
    const int *z_wires;             /* (n_z) the wire of each observable's Z */
    real *expvals;                  /* (N, n_z) output */
    int n_finite;                   /* values of `finite` that must be finite */
    const real *finite;             /* the preparation angles' half-angle cosines (NaN for a NaN or infinite angle) */
} lanes_args;

typedef real lane __attribute__((vector_size(64)));
enum { LW = sizeof(lane) / sizeof(real) };

static inline int is_identity(const real *m) {
    return m[1] == 0 && m[2] == 0 && m[3] == 0 && m[4] == 0 && m[5] == 0 && m[7] == 0 && m[0] == 1 && m[6] == 1;
}

/* Lane l of the vectors c[0..7] <- the 2x2 matrix of Local stage `local`, wire q, for the group of
   state r0 + l (lanes past `count` repeat state r0). Returns 0 where every lane's matrix is the
   identity (a wire without a gate in its stage). */
static int lane_matrix(const lanes_args *a, int n_local, int r0, int count, int local, int q, lane *c) {
    const long long per_set = (long long)n_local * a->n * 8, at = ((long long)local * a->n + q) * 8;
    const int first = r0 / a->per_group;
    if (first == (r0 + count - 1) / a->per_group) { /* one group: every lane the same scalars */
        const real *m = a->mats + first * per_set + at;
        for (int k = 0; k < 8; k++) c[k] = (lane){0} + m[k];
        return !is_identity(m);
    }
    int identity = 1;
    for (int l = 0; l < LW; l++) {
        const real *m = a->mats + (r0 + (l < count ? l : 0)) / a->per_group * per_set + at;
        identity &= is_identity(m);
        for (int k = 0; k < 8; k++) c[k][l] = m[k];
    }
    return !identity;
}

/* (a, b) <- m (a, b) for one pair of amplitudes of every lane (m: 8 lane vectors). */
#define PAIR(m, ar, ai, br, bi)                                                  \
    do {                                                                         \
        const lane ar_ = ar, ai_ = ai, br_ = br, bi_ = bi;                       \
        ar = m[0] * ar_ - m[1] * ai_ + m[2] * br_ - m[3] * bi_;                  \
        ai = m[0] * ai_ + m[1] * ar_ + m[2] * bi_ + m[3] * br_;                  \
        br = m[4] * ar_ - m[5] * ai_ + m[6] * br_ - m[7] * bi_;                  \
        bi = m[4] * ai_ + m[5] * ar_ + m[6] * bi_ + m[7] * br_;                  \
    } while (0)

/* The matrix m on wire q of the lanes' states (re, im: D vectors each). */
static void apply_wire(int n, int q, const lane *m, lane *re, lane *im) {
    const int D = 1 << n, stride = 1 << (n - 1 - q);
    for (int hi = 0; hi < D; hi += 2 * stride)
        for (int i = hi; i < hi + stride; i++) {
            lane ar = re[i], ai = im[i], br = re[i + stride], bi = im[i + stride];
            PAIR(m, ar, ai, br, bi);
            re[i] = ar, im[i] = ai, re[i + stride] = br, im[i + stride] = bi;
        }
}

/* The matrices m0 on wire q and m1 on wire q + 1 in one pass (half the loads and stores). */
static void apply_wires(int n, int q, const lane *m0, const lane *m1, lane *re, lane *im) {
    const int D = 1 << n, s = 1 << (n - 2 - q);
    for (int hi = 0; hi < D; hi += 4 * s)
        for (int i = hi; i < hi + s; i++) {
            lane r0 = re[i], i0 = im[i], r1 = re[i + s], i1 = im[i + s];
            lane r2 = re[i + 2 * s], i2 = im[i + 2 * s], r3 = re[i + 3 * s], i3 = im[i + 3 * s];
            PAIR(m1, r0, i0, r1, i1);
            PAIR(m1, r2, i2, r3, i3);
            PAIR(m0, r0, i0, r2, i2);
            PAIR(m0, r1, i1, r3, i3);
            re[i] = r0, im[i] = i0, re[i + s] = r1, im[i + s] = i1;
            re[i + 2 * s] = r2, im[i + 2 * s] = i2, re[i + 3 * s] = r3, im[i + 3 * s] = i3;
        }
}

/* Local stage `local` on the block's states: its wires two at a time where both have a gate,
   identities skipped. */
static void apply_local(const lanes_args *a, int n_local, int r0, int count, int local, lane *re, lane *im) {
    const int n = a->n;
    lane m0[8], m1[8];
    for (int q = 0; q < n; q++) {
        if (!lane_matrix(a, n_local, r0, count, local, q, m0)) continue;
        if (q + 1 < n && lane_matrix(a, n_local, r0, count, local, q + 1, m1))
            apply_wires(n, q, m0, m1, re, im);
        else
            apply_wire(n, q, m0, re, im);
        q++; /* wire q + 1 is done, or had no gate */
    }
}

/* <Z_w> after the matrix m on wire w: <M> = M00 s00 + M11 s11 + 2 Re(M01 c) before it, with
   M = m^H Z m, s00 and s11 the probabilities of bit w = 0 and 1 and c = sum conj(a0) a1 over the
   wire's pairs. */
static lane z_after(int n, int w, const lane *m, const lane *re, const lane *im) {
    const int D = 1 << n, stride = 1 << (n - 1 - w);
    lane s00 = {0}, s11 = {0}, cr = {0}, ci = {0};
    for (int hi = 0; hi < D; hi += 2 * stride)
        for (int i = hi; i < hi + stride; i++) {
            const lane ar = re[i], ai = im[i], br = re[i + stride], bi = im[i + stride];
            s00 += ar * ar + ai * ai, s11 += br * br + bi * bi;
            cr += ar * br + ai * bi, ci += ar * bi - ai * br;
        }
    const lane m00 = m[0] * m[0] + m[1] * m[1] - m[4] * m[4] - m[5] * m[5];
    const lane m11 = m[2] * m[2] + m[3] * m[3] - m[6] * m[6] - m[7] * m[7];
    /* M01 = conj(m00) m01 - conj(m10) m11 */
    const lane m01r = m[0] * m[2] + m[1] * m[3] - m[4] * m[6] - m[5] * m[7];
    const lane m01i = m[0] * m[3] - m[1] * m[2] - m[4] * m[7] + m[5] * m[6];
    return m00 * s00 + m11 * s11 + 2 * (m01r * cr - m01i * ci);
}

/* The block of `count` states from state r0 (scratch: 4 D vectors). */
static void run_block(const lanes_args *a, int n_local, int r0, int count, lane *scratch) {
    const int n = a->n, D = 1 << n;
    lane *re = scratch, *im = scratch + D, *tre = scratch + 2 * D, *tim = scratch + 3 * D;

    /* each wire's single state per lane: (u0, u1) = first column of its preparation matrix */
    lane u0r[32], u0i[32], u1r[32], u1i[32];
    for (int q = 0; q < n; q++)
        for (int l = 0; l < LW; l++) {
            const int r = r0 + (l < count ? l : 0);
            const real *m = a->prep + ((long long)(r % a->n_prep) * n + q) * 8;
            u0r[q][l] = m[0], u0i[q][l] = m[1], u1r[q][l] = m[4], u1i[q][l] = m[5];
        }
    /* the product state, one wire at a time (wire 0 ends as the most significant bit) */
    re[0] = u0r[0], im[0] = u0i[0], re[1] = u1r[0], im[1] = u1i[0];
    for (int q = 1, size = 2; q < n; q++, size *= 2)
        for (int k = size - 1; k >= 0; k--) {
            const lane ar = re[k], ai = im[k];
            re[2 * k] = ar * u0r[q] - ai * u0i[q], im[2 * k] = ar * u0i[q] + ai * u0r[q];
            re[2 * k + 1] = ar * u1r[q] - ai * u1i[q], im[2 * k + 1] = ar * u1i[q] + ai * u1r[q];
        }
    int s = 0, local = 0, permute = 0;
    const int last = a->kind[a->S - 1] == 0 ? a->S - 1 : a->S; /* a last Local stage is read (z_after) */
    for (; s < last; s++) {
        if (a->kind[s] == 0) {
            apply_local(a, n_local, r0, count, local++, re, im);
            continue;
        }
        const long long *src = a->source + (long long)permute * D;
        if (a->phased[permute]) {
            const real *ph = a->phase + 2LL * permute * D;
            for (int i = 0; i < D; i++) {
                const lane xr = re[src[i]], xi = im[src[i]];
                tre[i] = ph[2 * i] * xr - ph[2 * i + 1] * xi, tim[i] = ph[2 * i] * xi + ph[2 * i + 1] * xr;
            }
        } else
            for (int i = 0; i < D; i++) tre[i] = re[src[i]], tim[i] = im[src[i]];
        lane *t = re;
        re = tre, tre = t, t = im, im = tim, tim = t;
        permute++;
    }
    lane m[8] = {{0}};
    m[0] = m[6] = (lane){0} + 1; /* the identity where no Local stage is read */
    for (int z = 0; z < a->n_z; z++) {
        const int w = a->z_wires[z];
        if (last < a->S) lane_matrix(a, n_local, r0, count, local, w, m);
        const lane value = z_after(n, w, m, re, im);
        for (int l = 0; l < count; l++) a->expvals[(long long)(r0 + l) * a->n_z + z] = value[l];
    }
}

/* Status 0 done, 1 no scratch memory, 2 a NaN or infinite preparation angle (nothing computed). */
int NAME(lanes_forward)(const lanes_args *a) {
    for (int i = 0; i < a->n_finite; i++)
        if (!(a->finite[i] == a->finite[i])) return 2;
    if (a->n > 30 || a->N <= 0) return 0;
    lane *scratch = aligned_alloc(sizeof(lane), 4 * sizeof(lane) << a->n);
    if (!scratch) return 1;
    int n_local = 0;
    for (int s = 0; s < a->S; s++) n_local += a->kind[s] == 0;
    for (int r0 = 0; r0 < a->N; r0 += LW) run_block(a, n_local, r0, a->N - r0 < LW ? a->N - r0 : LW, scratch);
    free(scratch);
    return 0;
}
