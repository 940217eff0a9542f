/* A run of stages applied to a batch of states in C, and its backward pass (compiled_run.py).
 *
 * A run is a sequence of Local stages (a 2x2 matrix on every wire) and Permute stages
 * (psi'[i] = phase[i] psi[source[i]]). Each of N states (D = 2^n amplitudes, wire 0 the most
 * significant bit) is evolved through the run with the matrices of its group (states r and r' share
 * matrices when r / per_group == r' / per_group): per-sample matrices have per_group = 1, and a
 * run's unitary is the identity's D rows evolved with one group per circuit (per_group = D). A Local
 * stage applies m_q on wire q for q = 0 .. n-1; a Permute stage gathers.
 *
 * The backward pass is the adjoint method: from the final states and their gradient G it walks the
 * stages backwards, uncomputing the states (m^H, or the inverse gather: exact for unitary stages),
 * adding each matrix's gradient grad_m[a][b] += sum G[.a.] conj(psi_in[.b.]) and moving G back
 * (G <- m^H G); what is left of G is the initial states' gradient. Gradients follow torch's
 * convention for complex tensors (dL/dRe + i dL/dIm). Nothing per stage is stored.
 *
 * With n_z > 0 the run ends in a readout, <Z_w> = sum_i |psi_i|^2 z_w(i) with z_w(i) = +-1 by bit w of i,
 * whose gradient enters the backward pass as G_i = 2 psi_i sum_w g_w z_w(i). Started from |0...0>
 * (start 2), a first Local stage makes a product state, built directly.
 *
 * Complex numbers are interleaved (re, im) pairs of real. Compiled by qseq._native with and
 * without QSEQ_FLOAT.
 */
#include "_native.h"

typedef struct {
    int N, n, S, per_group;  /* states, wires, stages, states per matrix group */
    int start;               /* forward: 0 evolve the given states, 1 start state r as the basis state
                                r % D (a run's rows), 2 start every state in |0...0> */
    const int *kind;         /* (S) 0: Local, 1: Permute */
    const real *mats;        /* (N / per_group, L, n, 2, 2) complex: the Local stages' matrices, in order */
    const long long *source; /* (P, D) the Permute stages' gathers, in order */
    const real *phase;       /* (P, D) complex */
    real *states;            /* (N, D) complex: forward, evolved in place (0: not kept, with a readout
                                the states go through one scratch state); backward, the final states */
    const real *grad;        /* (N, D) complex: backward input, the final states' gradient */
    real *grad_mats;         /* (N / per_group, L, n, 2, 2) complex: backward output */
    real *grad_initial;      /* (N, D) complex: backward output, or 0 when not needed */
    int n_z;                 /* > 0: read <Z_w> of the final states for the n_z wires z_wires */
    const int *z_wires;      /* (n_z) */
    real *expvals;           /* (N, n_z): forward output; backward: `grad` is their gradient (N, n_z) */
} run_args;

/* Complex arithmetic on GNU C vectors of VC interleaved complex numbers: with SWAP exchanging each
   (re, im) pair and ALT = (-1, 1, -1, 1, ...), m a = Re m * a + Im m * ALT * SWAP(a). Wires whose
   pairs are at least VC amplitudes apart pair whole vectors; on the last wires (stride s < VC) both
   amplitudes of a pair lie in one vector, and PARTNER(a, s) moves each lane j to lane j ^ s. */
enum { VC = VL / 2 };
#ifdef QSEQ_FLOAT
#define SWAP(a) __builtin_shufflevector(a, a, 1, 0, 3, 2, 5, 4, 7, 6)
#define PARTNER(a, s) \
    ((s) == 1 ? __builtin_shufflevector(a, a, 2, 3, 0, 1, 6, 7, 4, 5) : __builtin_shufflevector(a, a, 4, 5, 6, 7, 0, 1, 2, 3))
#else
#define SWAP(a) __builtin_shufflevector(a, a, 1, 0, 3, 2)
#define PARTNER(a, s) __builtin_shufflevector(a, a, 2, 3, 0, 1)
#endif

static inline vec alt(void) {
    vec a;
    for (int i = 0; i < VL; i++) a[i] = i % 2 ? 1 : -1;
    return a;
}

/* Per-lane coefficients for a wire of stride s < VC: lane j (amplitude i + j) holds `own` of its
   side (m00 where bit s of j is 0, m11 where it is 1) and `other` for its partner (m01, m10),
   as real parts and ALT-signed imaginary parts. */
static void lane_coefficients(int s, const real *m, vec *own_r, vec *own_i, vec *other_r, vec *other_i) {
    for (int l = 0; l < VL; l++) {
        const int side = (l / 2) & s ? 1 : 0, sign = l % 2 ? 1 : -1;
        const real *own = m + 6 * side, *other = m + 2 + 2 * side; /* m11 = m + 6; m10 = m + 4 */
        (*own_r)[l] = own[0], (*own_i)[l] = sign * own[1];
        (*other_r)[l] = other[0], (*other_i)[l] = sign * other[1];
    }
}

/* v <- m v on wire q of one state of D = 2^n amplitudes. */
static void apply_wire(int n, int q, const real *m, real *v) {
    const int D = 1 << n, stride = 1 << (n - 1 - q);
    if (stride >= VC) {
        const real m00r = m[0], m01r = m[2], m10r = m[4], m11r = m[6];
        const vec s = alt(), a00 = m[1] * s, a01 = m[3] * s, a10 = m[5] * s, a11 = m[7] * s;
        for (int hi = 0; hi < D; hi += 2 * stride)
            for (int i = hi; i < hi + stride; i += VC) {
                const vec a = load(v + 2 * i), b = load(v + 2 * (i + stride)), sa = SWAP(a), sb = SWAP(b);
                store(v + 2 * i, m00r * a + a00 * sa + m01r * b + a01 * sb);
                store(v + 2 * (i + stride), m10r * a + a10 * sa + m11r * b + a11 * sb);
            }
        return;
    }
    if (D >= VC) {
        vec own_r, own_i, other_r, other_i;
        lane_coefficients(stride, m, &own_r, &own_i, &other_r, &other_i);
        for (int i = 0; i < D; i += VC) {
            const vec a = load(v + 2 * i), b = PARTNER(a, stride);
            store(v + 2 * i, own_r * a + own_i * SWAP(a) + other_r * b + other_i * SWAP(b));
        }
        return;
    }
    const real m00r = m[0], m00i = m[1], m01r = m[2], m01i = m[3];
    const real m10r = m[4], m10i = m[5], m11r = m[6], m11i = m[7];
    for (int hi = 0; hi < D; hi += 2 * stride)
        for (int i = hi; i < hi + stride; i++) {
            real *a = v + 2 * i, *b = v + 2 * (i + stride);
            const real ar = a[0], ai = a[1], br = b[0], bi = b[1];
            a[0] = m00r * ar - m00i * ai + m01r * br - m01i * bi;
            a[1] = m00r * ai + m00i * ar + m01r * bi + m01i * br;
            b[0] = m10r * ar - m10i * ai + m11r * br - m11i * bi;
            b[1] = m10r * ai + m10i * ar + m11r * bi + m11i * br;
        }
}

/* The conjugate transpose of a 2x2 complex matrix. */
static void dagger(const real *m, real *h) {
    h[0] = m[0], h[1] = -m[1];
    h[2] = m[4], h[3] = -m[5];
    h[4] = m[2], h[5] = -m[3];
    h[6] = m[6], h[7] = -m[7];
}

/* g[a][b] += the lane sums of p (G v: re, both lanes) and r (G SWAP(v): im, odd - even lane), for
   (a, b) = (0, 0), (0, 1), (1, 0), (1, 1). */
static void fold(const vec *p, const vec *r, real *g) {
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < VL; l += 2) {
            g[2 * k] += p[k][l] + p[k][l + 1];
            g[2 * k + 1] += r[k][l + 1] - r[k][l];
        }
}

/* g[a][b] += sum over the pairs of wire q of G[.a.] conj(v[.b.]), for the last wires (stride < VC:
   wire_backward takes the others in one pass). */
static void wire_gradient(int n, int q, const real *G, const real *v, real *g) {
    const int D = 1 << n, stride = 1 << (n - 1 - q);
    if (D >= VC) { /* lane j's own amplitude (b = a) and its partner's (b = 1 - a), as in fold */
        vec ps = {0}, rs = {0}, pc = {0}, rc = {0};
        for (int i = 0; i < D; i += VC) {
            const vec g0 = load(G + 2 * i), x = load(v + 2 * i), y = PARTNER(x, stride);
            ps += g0 * x, rs += g0 * SWAP(x), pc += g0 * y, rc += g0 * SWAP(y);
        }
        for (int l = 0; l < VL; l += 2) {
            const int a = (l / 2) & stride ? 1 : 0, same = 4 * a + 2 * a, cross = 4 * a + 2 * (1 - a);
            g[same] += ps[l] + ps[l + 1], g[same + 1] += rs[l + 1] - rs[l];
            g[cross] += pc[l] + pc[l + 1], g[cross + 1] += rc[l + 1] - rc[l];
        }
        return;
    }
    for (int hi = 0; hi < D; hi += 2 * stride)
        for (int i = hi; i < hi + stride; i++)
            for (int a = 0; a < 2; a++) {
                const real gr = G[2 * (i + a * stride)], gi = G[2 * (i + a * stride) + 1];
                for (int b = 0; b < 2; b++) {
                    const real xr = v[2 * (i + b * stride)], xi = v[2 * (i + b * stride) + 1];
                    g[4 * a + 2 * b] += gr * xr + gi * xi;
                    g[4 * a + 2 * b + 1] += gi * xr - gr * xi;
                }
            }
}

/* One gate's adjoint step on wire q in one pass over the state: v <- m^H v (the gate's input),
   g += sum G[.a.] conj(v[.b.]) and G <- m^H G -- apply_wire, wire_gradient and apply_wire fused. */
static void wire_backward(int n, int q, const real *m, real *v, real *G, real *g) {
    const int D = 1 << n, stride = 1 << (n - 1 - q);
    real h[8];
    dagger(m, h);
    if (stride >= VC) {
        const vec s = alt(), a00 = h[1] * s, a01 = h[3] * s, a10 = h[5] * s, a11 = h[7] * s;
        vec p[4] = {{0}}, r[4] = {{0}};
        for (int hi = 0; hi < D; hi += 2 * stride)
            for (int i = hi; i < hi + stride; i += VC) {
                const vec a = load(v + 2 * i), b = load(v + 2 * (i + stride)), sa = SWAP(a), sb = SWAP(b);
                const vec x0 = h[0] * a + a00 * sa + h[2] * b + a01 * sb;
                const vec x1 = h[4] * a + a10 * sa + h[6] * b + a11 * sb;
                const vec g0 = load(G + 2 * i), g1 = load(G + 2 * (i + stride)), s0 = SWAP(x0), s1 = SWAP(x1);
                p[0] += g0 * x0, p[1] += g0 * x1, p[2] += g1 * x0, p[3] += g1 * x1;
                r[0] += g0 * s0, r[1] += g0 * s1, r[2] += g1 * s0, r[3] += g1 * s1;
                const vec t0 = SWAP(g0), t1 = SWAP(g1);
                store(v + 2 * i, x0), store(v + 2 * (i + stride), x1);
                store(G + 2 * i, h[0] * g0 + a00 * t0 + h[2] * g1 + a01 * t1);
                store(G + 2 * (i + stride), h[4] * g0 + a10 * t0 + h[6] * g1 + a11 * t1);
            }
        fold(p, r, g);
        return;
    }
    apply_wire(n, q, h, v);
    wire_gradient(n, q, G, v, g);
    apply_wire(n, q, h, G);
}

/* y[i] = p[i] x[src[i]] (forward) or y[src[i]] = conj(p[i]) x[i] (inverse), then x <- y. */
static void gather(int D, const long long *src, const real *p, real *x, real *y, int inverse) {
    for (int i = 0; i < D; i++) {
        const real pr = p[2 * i], pi = inverse ? -p[2 * i + 1] : p[2 * i + 1];
        const long long from = inverse ? i : src[i], to = inverse ? src[i] : i;
        const real xr = x[2 * from], xi = x[2 * from + 1];
        y[2 * to] = pr * xr - pi * xi;
        y[2 * to + 1] = pr * xi + pi * xr;
    }
    memcpy(x, y, sizeof(real) * 2 * D);
}

/* y[0 .. size) = c x[0 .. size) for a complex scalar c = (cr, ci); y may be x. */
static void scale(int size, real cr, real ci, const real *x, real *y) {
    int i = 0;
    if (size >= VC) {
        const vec a = ci * alt();
        for (; i < size; i += VC) {
            const vec v = load(x + 2 * i);
            store(y + 2 * i, cr * v + a * SWAP(v));
        }
    }
    for (; i < size; i++) {
        const real xr = x[2 * i], xi = x[2 * i + 1];
        y[2 * i] = cr * xr - ci * xi, y[2 * i + 1] = cr * xi + ci * xr;
    }
}

/* v <- the product state (m_0 |0>) x ... x (m_{n-1} |0>) (the first column of each m_q), built from
   the last wire: prepending wire q doubles the state, v[b size + i] = <b|m_q|0> v[i]. */
static void product_state(int n, const real *m, real *v) {
    v[0] = 1, v[1] = 0;
    for (int q = n - 1, size = 1; q >= 0; q--, size *= 2) {
        const real *c = m + 8 * q; /* c[0], c[1]: <0|m|0>; c[4], c[5]: <1|m|0> */
        scale(size, c[4], c[5], v, v + 2 * size);
        scale(size, c[0], c[1], v, v);
    }
}

/* The sum of x[0 .. size). */
static real sum(int size, const real *x) {
    int i = 0;
    real total = 0;
    if (size >= VL) {
        vec acc = {0};
        for (; i < size; i += VL) acc += load(x + i);
        for (int l = 0; l < VL; l++) total += acc[l];
    }
    for (; i < size; i++) total += x[i];
    return total;
}

/* out[k] = <Z_{z_wires[k]}> of v: the probabilities' total less twice their sum where the wire's
   bit is 1 (contiguous blocks of `stride` amplitudes). p: scratch of D reals. */
static void read_z(const run_args *A, const real *v, real *p, real *out) {
    const int n = A->n, D = 1 << n;
    for (int i = 0; i < D; i++) p[i] = v[2 * i] * v[2 * i] + v[2 * i + 1] * v[2 * i + 1];
    const real total = sum(D, p);
    for (int k = 0; k < A->n_z; k++) {
        const int stride = 1 << (n - 1 - A->z_wires[k]);
        real ones = 0;
        for (int hi = stride; hi < D; hi += 2 * stride) ones += sum(stride, p + hi);
        out[k] = total - 2 * ones;
    }
}

/* G <- the states' gradient from the readout's gradient g (n_z): G_i = 2 v_i sum_k g_k z_k(i).
   w: scratch of D reals. */
static void z_gradient(const run_args *A, const real *v, const real *g, real *w, real *G) {
    const int n = A->n, D = 1 << n;
    real sum = 0;
    for (int k = 0; k < A->n_z; k++) sum += g[k];
    for (int i = 0; i < D; i++) w[i] = sum;
    for (int k = 0; k < A->n_z; k++) {
        const int stride = 1 << (n - 1 - A->z_wires[k]);
        for (int hi = stride; hi < D; hi += 2 * stride)
            for (int i = hi; i < hi + stride; i++) w[i] -= 2 * g[k];
    }
    for (int i = 0; i < D; i++) G[2 * i] = 2 * w[i] * v[2 * i], G[2 * i + 1] = 2 * w[i] * v[2 * i + 1];
}

static int count_local(const run_args *A) {
    int L = 0;
    for (int s = 0; s < A->S; s++) L += A->kind[s] == 0;
    return L;
}

int NAME(run_forward)(const run_args *A) {
    const int n = A->n, D = 1 << n, L = count_local(A);
    real *tmp = malloc(sizeof(real) * (A->states ? 2 : 4) * D);
    if (!tmp) return 1;
    for (int r = 0; r < A->N; r++) {
        real *v = A->states ? A->states + (size_t)2 * D * r : tmp + 2 * D;
        const real *mg = A->mats + (size_t)8 * n * L * (r / A->per_group);
        int s = 0, l = 0, p = 0;
        if (A->start == 2 && A->S > 0 && A->kind[0] == 0) {
            product_state(n, mg, v);
            s = l = 1;
        } else if (A->start) {
            memset(v, 0, sizeof(real) * 2 * D);
            v[A->start == 1 ? 2 * (r % D) : 0] = 1;
        }
        for (; s < A->S; s++) {
            if (A->kind[s] == 0) {
                for (int q = 0; q < n; q++) apply_wire(n, q, mg + 8 * (n * l + q), v);
                l++;
            } else {
                gather(D, A->source + (size_t)p * D, A->phase + (size_t)2 * p * D, v, tmp, 0);
                p++;
            }
        }
        if (A->n_z) read_z(A, v, tmp, A->expvals + (size_t)A->n_z * r);
    }
    free(tmp);
    return 0;
}

/* g_q[a] += sum over i with bit q = a of G_i conj(prod_{w != q} c_w[bit w of i]) for every wire q,
   with c_w = m_w |0> (the first column of wire w's matrix in m): the product state's gradient
   taken to its wires' matrices (their second columns do not enter: their gradient is 0). The
   contraction over the other wires is shared: L_q, the contraction of G with conj(c_w) over the
   wires after q, is half of L_{q+1}; it is then contracted over the wires before q. About 4 D
   complex multiply-adds for all wires, where the adjoint step of the layer would take 3 passes a
   wire. env, scratch: 4 D reals each (env holds the L_q of every size, back to back). */
static void product_gradient(int n, const real *m, const real *G, real *env, real *scratch, real *g) {
    const int D = 1 << n;
    real *level = env; /* L_{n-1} = G, then L_{n-2}, ..., each after the previous */
    memcpy(level, G, sizeof(real) * 2 * D);
    real *levels[32];
    for (int q = n - 1, size = D; q >= 0; q--) {
        levels[q] = level;
        if (q == 0) break;
        const real *c = m + 8 * q; /* contract wire q (the least significant of L_q) with conj(c_q) */
        real *next = level + 2 * size;
        for (int i = 0; i < size / 2; i++) {
            const real *x0 = level + 4 * i, *x1 = x0 + 2;
            next[2 * i] = x0[0] * c[0] + x0[1] * c[1] + x1[0] * c[4] + x1[1] * c[5];
            next[2 * i + 1] = x0[1] * c[0] - x0[0] * c[1] + x1[1] * c[4] - x1[0] * c[5];
        }
        level = next, size /= 2;
    }
    for (int q = 0; q < n; q++) { /* contract L_q (2^(q+1) amplitudes) over wires 0 .. q-1 */
        int size = 2 << q;
        const real *x = levels[q];
        real *out = scratch; /* each contraction halves the size: 2^(q+2) reals in all */
        for (int w = 0; w < q; w++, size /= 2) {
            const real *c = m + 8 * w, *hi = x + size; /* wire w is the most significant left */
            for (int i = 0; i < size / 2; i++) {
                const real *a = x + 2 * i, *b = hi + 2 * i;
                out[2 * i] = a[0] * c[0] + a[1] * c[1] + b[0] * c[4] + b[1] * c[5];
                out[2 * i + 1] = a[1] * c[0] - a[0] * c[1] + b[1] * c[4] - b[0] * c[5];
            }
            x = out, out += size;
        }
        g[8 * q] += x[0], g[8 * q + 1] += x[1], g[8 * q + 4] += x[2], g[8 * q + 5] += x[3];
    }
}

int NAME(run_backward)(const run_args *A) {
    const int n = A->n, D = 1 << n, L = count_local(A), P = A->S - L;
    const int product = A->start == 2 && A->S > 0 && A->kind[0] == 0; /* see run_forward */
    real *v = malloc(sizeof(real) * 14 * D);
    if (!v) return 1;
    real *G = v + 2 * D, *tmp = G + 2 * D, *env = tmp + 2 * D, *scratch = env + 4 * D;
    memset(A->grad_mats, 0, sizeof(real) * 8 * n * L * (size_t)(A->N / A->per_group));
    for (int r = 0; r < A->N; r++) {
        const real *mg = A->mats + (size_t)8 * n * L * (r / A->per_group);
        real *gg = A->grad_mats + (size_t)8 * n * L * (r / A->per_group);
        memcpy(v, A->states + (size_t)2 * D * r, sizeof(real) * 2 * D);
        if (A->n_z) z_gradient(A, v, A->grad + (size_t)A->n_z * r, tmp, G);
        else memcpy(G, A->grad + (size_t)2 * D * r, sizeof(real) * 2 * D);
        for (int s = A->S - 1, l = L, p = P; s >= product; s--) {
            if (A->kind[s] == 1) {
                p--;
                gather(D, A->source + (size_t)p * D, A->phase + (size_t)2 * p * D, v, tmp, 1);
                gather(D, A->source + (size_t)p * D, A->phase + (size_t)2 * p * D, G, tmp, 1);
                continue;
            }
            l--;
            for (int q = n - 1; q >= 0; q--) wire_backward(n, q, mg + 8 * (n * l + q), v, G, gg + 8 * (n * l + q));
        }
        if (product) product_gradient(n, mg, G, env, scratch, gg);
        if (A->grad_initial) memcpy(A->grad_initial + (size_t)2 * D * r, G, sizeof(real) * 2 * D);
    }
    free(v);
    return 0;
}
