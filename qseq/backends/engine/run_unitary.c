/* The unitary of a run of stages, built in C, and its backward pass (qseq/backends/engine/run_unitary.py).
 *
 * A run is a sequence of Local stages (a 2x2 matrix on every wire) and Permute stages
 * (psi'[i] = phase[i] psi[source[i]]). Its rows R (D x D, psi -> psi @ R applies the run) start as
 * the identity, and every stage acts on each row as on a state: a Local stage applies m_q on wire q
 * (wire 0 the most significant bit) for q = 0 .. n-1, a Permute stage gathers. The backward pass
 * is the adjoint method on those D states: from the final rows and the gradient G of R it walks the
 * stages backwards, uncomputing the rows (m^H, or the inverse gather, exact for unitary stages),
 * reading each matrix's gradient grad_m[a][b] = sum G[.a.] conj(R_in[.b.]) and moving G back
 * (G <- m^H G). Gradients follow torch's convention for complex tensors (dL/dRe + i dL/dIm).
 *
 * Complex numbers are interleaved (re, im) pairs of real. Compiled by qseq._native with and
 * without QSEQ_FLOAT.
 */
#include <stdlib.h>
#include <string.h>

#ifdef QSEQ_FLOAT
typedef float real;
#define SUFFIX f32
#else
typedef double real;
#define SUFFIX f64
#endif

typedef struct {
    int K, n, S;               /* circuits, wires, stages */
    const int *kind;           /* (S) 0: Local, 1: Permute */
    const real *mats;          /* (K, L, n, 2, 2) complex: the Local stages' matrices, in stage order */
    const long long *source;   /* (P, D) the Permute stages' gathers, in stage order */
    const real *phase;         /* (P, D) complex */
    real *rows;                /* (K, D, D) complex: forward output; backward input (the final rows) */
    const real *grad_rows;     /* (K, D, D) complex: backward input */
    real *grad_mats;           /* (K, L, n, 2, 2) complex: backward output */
} run_args;

/* v <- m v on wire q, for `count` states of D amplitudes each (row stride D). */
static void apply_wire(int n, int q, const real *m, real *v, int count) {
    const int D = 1 << n, stride = 1 << (n - 1 - q);
    const real m00r = m[0], m00i = m[1], m01r = m[2], m01i = m[3];
    const real m10r = m[4], m10i = m[5], m11r = m[6], m11i = m[7];
    for (int r = 0; r < count; r++) {
        real *row = v + (size_t)2 * r * D;
        for (int hi = 0; hi < D; hi += 2 * stride)
            for (int i = hi; i < hi + stride; i++) {
                real *a = row + 2 * i, *b = row + 2 * (i + stride);
                const real ar = a[0], ai = a[1], br = b[0], bi = b[1];
                a[0] = m00r * ar - m00i * ai + m01r * br - m01i * bi;
                a[1] = m00r * ai + m00i * ar + m01r * bi + m01i * br;
                b[0] = m10r * ar - m10i * ai + m11r * br - m11i * bi;
                b[1] = m10r * ai + m10i * ar + m11r * bi + m11i * br;
            }
    }
}

/* The conjugate transpose of a 2x2 complex matrix. */
static void dagger(const real *m, real *h) {
    h[0] = m[0], h[1] = -m[1];
    h[2] = m[4], h[3] = -m[5];
    h[4] = m[2], h[5] = -m[3];
    h[6] = m[6], h[7] = -m[7];
}

/* out[., i] = p[i] in[., src[i]] (forward) or out[., src[i]] = conj(p[i]) in[., i] (inverse). */
static void gather(int D, const long long *src, const real *p, const real *in, real *out, int count, int inverse) {
    for (int r = 0; r < count; r++) {
        const real *x = in + (size_t)2 * r * D;
        real *y = out + (size_t)2 * r * D;
        for (int i = 0; i < D; i++) {
            const real pr = p[2 * i], pi = inverse ? -p[2 * i + 1] : p[2 * i + 1];
            const long long from = inverse ? i : src[i], to = inverse ? src[i] : i;
            const real xr = x[2 * from], xi = x[2 * from + 1];
            y[2 * to] = pr * xr - pi * xi;
            y[2 * to + 1] = pr * xi + pi * xr;
        }
    }
}

#define NAME2(a, b) a##_##b
#define NAME(a, b) NAME2(a, b)

int NAME(run_forward, SUFFIX)(const run_args *A) {
    const int n = A->n, D = 1 << n;
    const size_t DD = (size_t)D * D;
    int L = 0;
    for (int s = 0; s < A->S; s++) L += A->kind[s] == 0;
    real *tmp = malloc(sizeof(real) * 2 * DD);
    if (!tmp) return 1;
    for (int k = 0; k < A->K; k++) {
        real *R = A->rows + 2 * DD * k;
        memset(R, 0, sizeof(real) * 2 * DD);
        for (int i = 0; i < D; i++) R[2 * ((size_t)i * D + i)] = 1;
        for (int s = 0, l = 0, p = 0; s < A->S; s++) {
            if (A->kind[s] == 0) {
                const real *m = A->mats + (size_t)8 * n * ((size_t)k * L + l++);
                for (int q = 0; q < n; q++) apply_wire(n, q, m + 8 * q, R, D);
            } else {
                gather(D, A->source + (size_t)p * D, A->phase + (size_t)2 * p * D, R, tmp, D, 0);
                memcpy(R, tmp, sizeof(real) * 2 * DD);
                p++;
            }
        }
    }
    free(tmp);
    return 0;
}

int NAME(run_backward, SUFFIX)(const run_args *A) {
    const int n = A->n, D = 1 << n;
    const size_t DD = (size_t)D * D;
    int L = 0, P = 0;
    for (int s = 0; s < A->S; s++) L += A->kind[s] == 0, P += A->kind[s] == 1;
    real *R = malloc(sizeof(real) * 6 * DD);
    if (!R) return 1;
    real *G = R + 2 * DD, *tmp = G + 2 * DD;
    for (int k = 0; k < A->K; k++) {
        memcpy(R, A->rows + 2 * DD * k, sizeof(real) * 2 * DD);
        memcpy(G, A->grad_rows + 2 * DD * k, sizeof(real) * 2 * DD);
        for (int s = A->S - 1, l = L, p = P; s >= 0; s--) {
            if (A->kind[s] == 1) {
                p--;
                const long long *src = A->source + (size_t)p * D;
                const real *ph = A->phase + (size_t)2 * p * D;
                gather(D, src, ph, R, tmp, D, 1);
                memcpy(R, tmp, sizeof(real) * 2 * DD);
                gather(D, src, ph, G, tmp, D, 1);
                memcpy(G, tmp, sizeof(real) * 2 * DD);
                continue;
            }
            l--;
            const real *ms = A->mats + (size_t)8 * n * ((size_t)k * L + l);
            real *gms = A->grad_mats + (size_t)8 * n * ((size_t)k * L + l);
            for (int q = n - 1; q >= 0; q--) {
                real h[8], g[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                dagger(ms + 8 * q, h);
                apply_wire(n, q, h, R, D); /* R: the rows before this gate */
                const int stride = 1 << (n - 1 - q);
                for (int r = 0; r < D; r++) {
                    const real *x = R + (size_t)2 * r * D, *y = G + (size_t)2 * r * D;
                    for (int hi = 0; hi < D; hi += 2 * stride)
                        for (int i = hi; i < hi + stride; i++)
                            for (int a = 0; a < 2; a++)
                                for (int b = 0; b < 2; b++) { /* grad_m[a][b] += G[.a.] conj(R[.b.]) */
                                    const real gr = y[2 * (i + a * stride)], gi = y[2 * (i + a * stride) + 1];
                                    const real xr = x[2 * (i + b * stride)], xi = x[2 * (i + b * stride) + 1];
                                    g[4 * a + 2 * b] += gr * xr + gi * xi;
                                    g[4 * a + 2 * b + 1] += gi * xr - gr * xi;
                                }
                }
                memcpy(gms + 8 * q, g, sizeof g);
                apply_wire(n, q, h, G, D); /* G <- m^H G */
            }
        }
    }
    free(R);
    return 0;
}
