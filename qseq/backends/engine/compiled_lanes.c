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
    int N, n, S, per_group, n_prep; /* states, wires, stages, states per matrix set, preparation rows */
    const int *kind;                /* (S) 0: Local, 1: Permute */
    const real *prep;               /* n_prep rows of (n, 2, 2) complex: each wire's preparation matrix */
    const real *mats;               /* N / per_group sets of (L, n, 2, 2) complex: the Local stages' matrices */
    int prep_stride, set_stride;    /* reals from one preparation row, one matrix set to the next */
    const long long *source;        /* (P, D) the Permute stages' gathers, in order */
    const real *phase;              /* (P, D) complex */
    const int *phased;              /* (P) whether a gather's phases differ from 1 */
    int n_z;                        /* the observables' count */
    const int *z_wires;             /* (n_z) the wire of each observable's Z */
    real *expvals;                  /* (N, n_z) forward output */
    int n_finite;                   /* values of `finite` that must be finite */
    const real *finite;             /* the preparation angles' half-angle cosines (NaN for a NaN or infinite angle) */
    const real *grad;               /* (N, n_z) backward input: the expectation values' gradient */
    real *grad_prep, *grad_mats;    /* backward outputs in the layouts of prep and mats (per_group 1,
                                       n_prep N): every entry written */
    real *states;                   /* 0, or the blocks' states before the readout, (ceil(N / LW), D, 2,
                                       LW): written forward, read backward instead of running it again */
} lanes_args;

typedef real lane __attribute__((vector_size(64)));
enum { LW = sizeof(lane) / sizeof(real) };

static inline int is_identity(const real *m) {
    return m[1] == 0 && m[2] == 0 && m[3] == 0 && m[4] == 0 && m[5] == 0 && m[7] == 0 && m[0] == 1 && m[6] == 1;
}

/* Lane l of the vectors c[0..7] <- the 2x2 matrix of Local stage `local`, wire q, for the group of
   state r0 + l (lanes past `count` repeat state r0). Returns 0 where every lane's matrix is the
   identity (a wire without a gate in its stage). */
static int lane_matrix(const lanes_args *a, int r0, int count, int local, int q, lane *c) {
    const long long per_set = a->set_stride, at = ((long long)local * a->n + q) * 8;
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
static void apply_local(const lanes_args *a, int r0, int count, int local, lane *re, lane *im) {
    const int n = a->n;
    lane m0[8], m1[8];
    for (int q = 0; q < n; q++) {
        if (!lane_matrix(a, r0, count, local, q, m0)) continue;
        if (q + 1 < n && lane_matrix(a, r0, count, local, q + 1, m1))
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

/* A block's working memory: the state, the gradient and their gather copies (D vectors each), the
   wires' single states u[q] = (re 0, im 0, re 1, im 1) and the suffix products of the backward pass. */
typedef struct {
    lane *re, *im, *tre, *tim, *gre, *gim, *tgre, *tgim, *suffix;
    lane u[32][4];
} block;

/* Each wire's single state per lane: the first column of its preparation matrix. */
static void single_states(const lanes_args *a, int r0, int count, block *b) {
    for (int q = 0; q < a->n; q++)
        for (int l = 0; l < LW; l++) {
            const int r = r0 + (l < count ? l : 0);
            const real *m = a->prep + (long long)(r % a->n_prep) * a->prep_stride + 8 * q;
            b->u[q][0][l] = m[0], b->u[q][1][l] = m[1], b->u[q][2][l] = m[4], b->u[q][3][l] = m[5];
        }
}

/* The product state of the block's lanes from each wire's first preparation column. */
static void prepare(const lanes_args *a, int r0, int count, block *b) {
    const int n = a->n;
    single_states(a, r0, count, b);
    lane *re = b->re, *im = b->im; /* Kronecker products, one wire at a time: wire 0 ends most significant */
    re[0] = b->u[0][0], im[0] = b->u[0][1], re[1] = b->u[0][2], im[1] = b->u[0][3];
    for (int q = 1, size = 2; q < n; q++, size *= 2)
        for (int k = size - 1; k >= 0; k--) {
            const lane ar = re[k], ai = im[k], *u = b->u[q];
            re[2 * k] = ar * u[0] - ai * u[1], im[2 * k] = ar * u[1] + ai * u[0];
            re[2 * k + 1] = ar * u[2] - ai * u[3], im[2 * k + 1] = ar * u[3] + ai * u[2];
        }
}

/* Exchange the buffers x and y (a gather's output becomes the state). */
static void swap(lane **x, lane **y) {
    lane *t = *x;
    *x = *y, *y = t;
}

/* Forward through stages 0 .. last - 1 (psi'[i] = phase[i] psi[source[i]] for a Permute). */
static void evolve(const lanes_args *a, int r0, int count, int last, block *b) {
    const int D = 1 << a->n;
    for (int s = 0, local = 0, permute = 0; s < last; s++) {
        if (a->kind[s] == 0) {
            apply_local(a, r0, count, local++, b->re, b->im);
            continue;
        }
        const long long *src = a->source + (long long)permute * D;
        lane *re = b->re, *im = b->im, *tre = b->tre, *tim = b->tim;
        if (a->phased[permute]) {
            const real *ph = a->phase + 2LL * permute * D;
            for (int i = 0; i < D; i++) {
                const lane xr = re[src[i]], xi = im[src[i]];
                tre[i] = ph[2 * i] * xr - ph[2 * i + 1] * xi, tim[i] = ph[2 * i] * xi + ph[2 * i + 1] * xr;
            }
        } else
            for (int i = 0; i < D; i++) tre[i] = re[src[i]], tim[i] = im[src[i]];
        swap(&b->re, &b->tre), swap(&b->im, &b->tim);
        permute++;
    }
}

/* The stage a readout reads: a last Local stage is not applied but read into the observables. */
static int read_stage(const lanes_args *a) { return a->S > 0 && a->kind[a->S - 1] == 0 ? a->S - 1 : a->S; }

static int count_local(const lanes_args *a, int stages) {
    int count = 0;
    for (int s = 0; s < stages; s++) count += a->kind[s] == 0;
    return count;
}

/* The matrix that observable z's wire reads: the last Local stage's, or the identity. */
static void read_matrix(const lanes_args *a, int r0, int count, int last, int w, lane *m) {
    for (int k = 0; k < 8; k++) m[k] = (lane){0};
    m[0] = m[6] = (lane){0} + 1;
    if (last < a->S) lane_matrix(a, r0, count, count_local(a, last), w, m);
}

/* The block's kept state: D vectors of real parts, then D of imaginary parts. */
static lane *kept(const lanes_args *a, int r0) { return (lane *)a->states + (2LL * (r0 / LW) << a->n); }

static void forward_block(const lanes_args *a, int r0, int count, block *b) {
    const int last = read_stage(a), D = 1 << a->n;
    prepare(a, r0, count, b);
    evolve(a, r0, count, last, b);
    if (a->states) {
        memcpy(kept(a, r0), b->re, D * sizeof(lane));
        memcpy(kept(a, r0) + D, b->im, D * sizeof(lane));
    }
    lane m[8];
    for (int z = 0; z < a->n_z; z++) {
        read_matrix(a, r0, count, last, a->z_wires[z], m);
        const lane value = z_after(a->n, a->z_wires[z], m, b->re, b->im);
        for (int l = 0; l < count; l++) a->expvals[(long long)(r0 + l) * a->n_z + z] = value[l];
    }
}

/* Lane l's 2x2 complex gradient g (8 vectors) added to the matrix at `at` reals into the set of state r0 + l. */
static void add_grad(real *base, int stride, int r0, int count, long long at, const lane *g) {
    for (int l = 0; l < count; l++) {
        real *out = base + (long long)(r0 + l) * stride + at;
        for (int k = 0; k < 8; k++) out[k] += g[k][l];
    }
}

/* The readout's gradient: G = sum_z 2 g_z M_z psi (on wire w_z, M = m^H Z m) and, for a read Local
   stage, grad m[k][j] = sum_z 2 g_z z_k (m_k0 rho_0j + m_k1 rho_1j) with rho_ij = sum a_i conj(a_j)
   over the wire's pairs (gradients of complex values as dL/dRe + i dL/dIm). */
static void read_backward(const lanes_args *a, int r0, int count, int last, block *b) {
    const int n = a->n, D = 1 << n, n_local = count_local(a, last);
    for (int i = 0; i < D; i++) b->gre[i] = b->gim[i] = (lane){0};
    for (int z = 0; z < a->n_z; z++) {
        const int w = a->z_wires[z], stride = 1 << (n - 1 - w);
        lane g = {0}, m[8];
        for (int l = 0; l < count; l++) g[l] = 2 * a->grad[(long long)(r0 + l) * a->n_z + z];
        read_matrix(a, r0, count, last, w, m);
        const lane m00 = m[0] * m[0] + m[1] * m[1] - m[4] * m[4] - m[5] * m[5];
        const lane m11 = m[2] * m[2] + m[3] * m[3] - m[6] * m[6] - m[7] * m[7];
        const lane m01r = m[0] * m[2] + m[1] * m[3] - m[4] * m[6] - m[5] * m[7];
        const lane m01i = m[0] * m[3] - m[1] * m[2] - m[4] * m[7] + m[5] * m[6];
        const lane p00 = g * m00, p11 = g * m11, pr = g * m01r, pi = g * m01i;
        lane s00 = {0}, s11 = {0}, cr = {0}, ci = {0};
        for (int hi = 0; hi < D; hi += 2 * stride)
            for (int i = hi; i < hi + stride; i++) {
                const lane ar = b->re[i], ai = b->im[i], br = b->re[i + stride], bi = b->im[i + stride];
                s00 += ar * ar + ai * ai, s11 += br * br + bi * bi;
                cr += ar * br + ai * bi, ci += ar * bi - ai * br;
                /* G += 2g (M00 a + M01 b, conj(M01) a + M11 b) */
                b->gre[i] += p00 * ar + pr * br - pi * bi, b->gim[i] += p00 * ai + pr * bi + pi * br;
                b->gre[i + stride] += pr * ar + pi * ai + p11 * br, b->gim[i + stride] += pr * ai - pi * ar + p11 * bi;
            }
        if (last == a->S) continue;
        /* rho_00 = s00, rho_11 = s11, rho_10 = c = cr + i ci, rho_01 = conj(c) */
        const lane rho[8] = {s00, (lane){0}, cr, -ci, cr, ci, s11, (lane){0}};
        lane grad[8];
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < 2; j++) { /* z_k (m_k0 rho_0j + m_k1 rho_1j) */
                const lane *m0 = m + 4 * k, *m1 = m + 4 * k + 2, *r0j = rho + 2 * j, *r1j = rho + 4 + 2 * j;
                const lane sign = (k ? -g : g);
                grad[4 * k + 2 * j] = sign * (m0[0] * r0j[0] - m0[1] * r0j[1] + m1[0] * r1j[0] - m1[1] * r1j[1]);
                grad[4 * k + 2 * j + 1] = sign * (m0[0] * r0j[1] + m0[1] * r0j[0] + m1[0] * r1j[1] + m1[1] * r1j[0]);
            }
        add_grad(a->grad_mats, a->set_stride, r0, count, ((long long)n_local * n + w) * 8, grad);
    }
}

/* Backward through Local stage `local`: per wire, psi <- m^H psi, grad m += G conj(psi)^T summed over
   the pairs, G <- m^H G. (Two wires a pass measured no faster here: the accumulators spill.) */
static void local_backward(const lanes_args *a, int r0, int count, int local, block *b) {
    const int n = a->n, D = 1 << n;
    for (int q = 0; q < n; q++) {
        lane m[8], h[8];
        lane_matrix(a, r0, count, local, q, m); /* never skipped: an identity by its angles has a gradient */
        h[0] = m[0], h[1] = -m[1], h[2] = m[4], h[3] = -m[5], h[4] = m[2], h[5] = -m[3], h[6] = m[6], h[7] = -m[7];
        const int stride = 1 << (n - 1 - q);
        lane g[8] = {{0}};
        for (int hi = 0; hi < D; hi += 2 * stride)
            for (int i = hi; i < hi + stride; i++) {
                lane ar = b->re[i], ai = b->im[i], br = b->re[i + stride], bi = b->im[i + stride];
                lane gar = b->gre[i], gai = b->gim[i], gbr = b->gre[i + stride], gbi = b->gim[i + stride];
                PAIR(h, ar, ai, br, bi);
                /* grad[k][j] += G_k conj(psi_j) */
                g[0] += gar * ar + gai * ai, g[1] += gai * ar - gar * ai;
                g[2] += gar * br + gai * bi, g[3] += gai * br - gar * bi;
                g[4] += gbr * ar + gbi * ai, g[5] += gbi * ar - gbr * ai;
                g[6] += gbr * br + gbi * bi, g[7] += gbi * br - gbr * bi;
                PAIR(h, gar, gai, gbr, gbi);
                b->re[i] = ar, b->im[i] = ai, b->re[i + stride] = br, b->im[i + stride] = bi;
                b->gre[i] = gar, b->gim[i] = gai, b->gre[i + stride] = gbr, b->gim[i + stride] = gbi;
            }
        add_grad(a->grad_mats, a->set_stride, r0, count, ((long long)local * n + q) * 8, g);
    }
}

/* Backward through Permute stage `permute`: psi[source[i]] = conj(phase[i]) psi'[i], and so for G. */
static void permute_backward(const lanes_args *a, int permute, block *b) {
    const int D = 1 << a->n;
    const long long *src = a->source + (long long)permute * D;
    const real *ph = a->phase + 2LL * permute * D;
    for (int i = 0; i < D; i++) {
        const real pr = ph[2 * i], pi = -ph[2 * i + 1];
        const lane xr = b->re[i], xi = b->im[i], gr = b->gre[i], gi = b->gim[i];
        b->tre[src[i]] = pr * xr - pi * xi, b->tim[src[i]] = pr * xi + pi * xr;
        b->tgre[src[i]] = pr * gr - pi * gi, b->tgim[src[i]] = pr * gi + pi * gr;
    }
    swap(&b->re, &b->tre), swap(&b->im, &b->tim), swap(&b->gre, &b->tgre), swap(&b->gim, &b->tgim);
}

/* The preparation columns' gradient from G at the product state: grad u_q(s) = sum over the
   amplitudes with bit q = s of G conj(prod_{p != q} u_p), by contracting G with the wires before q
   (in place, one wire at a time) and the product of the wires after q (suffix products): about 6D
   complex multiply-adds for all wires. */
static void product_backward(const lanes_args *a, int r0, int count, block *b) {
    const int n = a->n;
    /* suffix products R_q = u_q x ... x u_{n-1} (R_n = 1), R_q stored from offset 2^(n-q) - 1 */
    lane *sr = b->suffix, *si = b->suffix + (2 << n);
    sr[0] = (lane){0} + 1, si[0] = (lane){0};
    for (int q = n - 1; q >= 0; q--) {
        const int size = 1 << (n - 1 - q), from = size - 1, to = 2 * size - 1;
        const lane *u = b->u[q];
        for (int k = 0; k < size; k++) {
            const lane xr = sr[from + k], xi = si[from + k];
            sr[to + k] = u[0] * xr - u[1] * xi, si[to + k] = u[0] * xi + u[1] * xr;
            sr[to + size + k] = u[2] * xr - u[3] * xi, si[to + size + k] = u[2] * xi + u[3] * xr;
        }
    }
    lane *gr = b->gre, *gi = b->gim;
    for (int q = 0; q < n; q++) {
        const int half = 1 << (n - 1 - q), at = half - 1; /* R_{q+1} has `half` entries */
        lane g[8] = {{0}};
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < half; k++) { /* sum G[s, k] conj(R_{q+1}[k]) */
                const lane xr = gr[s * half + k], xi = gi[s * half + k], rr = sr[at + k], ri = si[at + k];
                g[4 * s] += xr * rr + xi * ri, g[4 * s + 1] += xi * rr - xr * ri;
            }
        add_grad(a->grad_prep, a->prep_stride, r0, count, 8LL * q, g); /* entries m00 and m10 */
        const lane *u = b->u[q]; /* contract wire q: A'[k] = conj(u(0)) A[0, k] + conj(u(1)) A[1, k] */
        for (int k = 0; k < half; k++) {
            const lane xr = gr[k], xi = gi[k], yr = gr[half + k], yi = gi[half + k];
            gr[k] = u[0] * xr + u[1] * xi + u[2] * yr + u[3] * yi;
            gi[k] = u[0] * xi - u[1] * xr + u[2] * yi - u[3] * yr;
        }
    }
}

static void backward_block(const lanes_args *a, int r0, int count, block *b) {
    const int last = read_stage(a);
    for (int l = 0; l < count; l++) { /* every entry of the block's gradients is written */
        memset(a->grad_prep + (long long)(r0 + l) * a->prep_stride, 0, 8 * a->n * sizeof(real));
        memset(a->grad_mats + (long long)(r0 + l) * a->set_stride, 0, 8LL * a->n * count_local(a, a->S) * sizeof(real));
    }
    if (a->states) { /* the forward pass's state */
        single_states(a, r0, count, b);
        memcpy(b->re, kept(a, r0), (sizeof(lane) << a->n));
        memcpy(b->im, kept(a, r0) + (1 << a->n), (sizeof(lane) << a->n));
    } else {
        prepare(a, r0, count, b);
        evolve(a, r0, count, last, b);
    }
    read_backward(a, r0, count, last, b);
    int local = count_local(a, last), permute = last - local;
    for (int s = last - 1; s >= 0; s--)
        if (a->kind[s] == 0)
            local_backward(a, r0, count, --local, b);
        else
            permute_backward(a, --permute, b);
    product_backward(a, r0, count, b);
}

/* Run `fn` on every block of LW states with `vectors` D-vectors of scratch. */
static int each_block(const lanes_args *a, int vectors, void (*fn)(const lanes_args *, int, int, block *)) {
    const long long D = 1LL << a->n;
    lane *scratch = aligned_alloc(sizeof(lane), vectors * D * sizeof(lane));
    if (!scratch) return 1;
    block b;
    lane **bufs[9] = {&b.re, &b.im, &b.tre, &b.tim, &b.gre, &b.gim, &b.tgre, &b.tgim, &b.suffix};
    for (int k = 0; k < 9; k++) *bufs[k] = k < vectors ? scratch + k * D : 0; /* the suffix products: 4 D */
    for (int r0 = 0; r0 < a->N; r0 += LW) fn(a, r0, a->N - r0 < LW ? a->N - r0 : LW, &b);
    free(scratch);
    return 0;
}

/* Status 0 done, 1 no scratch memory, 2 a NaN or infinite preparation angle (nothing computed). */
int NAME(lanes_forward)(const lanes_args *a) {
    for (int i = 0; i < a->n_finite; i++)
        if (!(a->finite[i] == a->finite[i])) return 2;
    if (a->n > 30 || a->N <= 0) return 0;
    return each_block(a, 4, forward_block);
}

/* The gradients of prep and mats for per-sample matrices (per_group 1, n_prep N). */
int NAME(lanes_backward)(const lanes_args *a) {
    if (a->n > 30 || a->N <= 0) return 0;
    return each_block(a, 12, backward_block);
}
