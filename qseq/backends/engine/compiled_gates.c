/* The 2x2 matrices of single-qubit gates built from their angles in C, and their backward pass
 * (compiled_gates.py).
 *
 * Each of N matrix sets holds `slots` matrices (one per wire of each Local stage of a run). A slot's
 * matrix is the product of its steps, first step applied first: m = S_k ... S_2 S_1, where a step is
 * a rotation R_a(t) = exp(-i t sigma_a / 2) = cos(t/2) I - i sin(t/2) sigma_a about axis a (X, Y or Z)
 * by the angle in column `arg` of the set's row (given as cos(t/2) and sin(t/2), computed by torch's
 * vectorised functions), or the constant matrix number `arg`.
 * Every parametric single-qubit gate of qseq's table is such a product (GateSpec.axes); a slot
 * without steps is the identity.
 *
 * The backward pass turns the matrices' gradient G (torch's convention for complex tensors,
 * dL/dRe + i dL/dIm) into the angles' gradient: dL/dt_j = Re sum_ab conj(A^H G)_ab (dS_j B)_ab with
 * A = S_k ... S_{j+1} and B = S_{j-1} ... S_1, accumulated over every step that reads column j.
 * Walking the steps backwards, B and A^H G are each one step's product away from the last (every
 * step is unitary: B_j = S_j^H B_{j+1}), and dR_a(t)/dt = R_a(t + pi) / 2.
 *
 * Complex numbers are interleaved (re, im) pairs of real. Compiled by qseq._native with and
 * without QSEQ_FLOAT.
 */
#include "_native.h"

enum { AXIS_X, AXIS_Y, AXIS_Z, CONSTANT };

typedef struct {
    int N, P, slots;         /* matrix sets, angle columns per set, matrices per set */
    const int *start;        /* (slots + 1) the steps of slot s are start[s] .. start[s + 1] - 1 */
    const int *axis;         /* (T) AXIS_X, AXIS_Y, AXIS_Z or CONSTANT */
    const int *arg;          /* (T) the angle's column, or the constant's number */
    const real *consts;      /* (C, 2, 2) complex */
    const real *cos_half;    /* (N, P) cos(t/2) of every angle t */
    const real *sin_half;    /* (N, P) sin(t/2) */
    real *mats;              /* (N, slots, 2, 2) complex: forward output */
    const real *grad_mats;   /* (N, slots, 2, 2) complex: backward input */
    real *grad_angles;       /* (N, P): backward output */
} gate_args;

/* A 2x2 complex matrix held in scalars (the kernel builds matrices in registers: writing one as
   reals and reading it back as vectors stalls on store forwarding). */
typedef struct {
    real r[2][2], i[2][2];
} mat2;

static const mat2 IDENTITY = {{{1, 0}, {0, 1}}, {{0, 0}, {0, 0}}};

static inline mat2 mul2(mat2 a, mat2 b) {
    mat2 c;
    for (int x = 0; x < 2; x++)
        for (int y = 0; y < 2; y++) {
            c.r[x][y] = a.r[x][0] * b.r[0][y] - a.i[x][0] * b.i[0][y] + a.r[x][1] * b.r[1][y] - a.i[x][1] * b.i[1][y];
            c.i[x][y] = a.r[x][0] * b.i[0][y] + a.i[x][0] * b.r[0][y] + a.r[x][1] * b.i[1][y] + a.i[x][1] * b.r[1][y];
        }
    return c;
}

/* R m for R = c I - i s sigma_axis (the rotation by t with (c, s) = (cos, sin)(t/2)), written out. */
static inline mat2 rotate(int axis, real c, real s, mat2 m) {
    mat2 o;
    for (int y = 0; y < 2; y++)
        if (axis == AXIS_X) { /* rows (c m0 - i s m1, -i s m0 + c m1) */
            o.r[0][y] = c * m.r[0][y] + s * m.i[1][y], o.i[0][y] = c * m.i[0][y] - s * m.r[1][y];
            o.r[1][y] = s * m.i[0][y] + c * m.r[1][y], o.i[1][y] = -s * m.r[0][y] + c * m.i[1][y];
        } else if (axis == AXIS_Y) { /* (c m0 - s m1, s m0 + c m1) */
            o.r[0][y] = c * m.r[0][y] - s * m.r[1][y], o.i[0][y] = c * m.i[0][y] - s * m.i[1][y];
            o.r[1][y] = s * m.r[0][y] + c * m.r[1][y], o.i[1][y] = s * m.i[0][y] + c * m.i[1][y];
        } else { /* ((c - i s) m0, (c + i s) m1) */
            o.r[0][y] = c * m.r[0][y] + s * m.i[0][y], o.i[0][y] = c * m.i[0][y] - s * m.r[0][y];
            o.r[1][y] = c * m.r[1][y] - s * m.i[1][y], o.i[1][y] = c * m.i[1][y] + s * m.r[1][y];
        }
    return o;
}

/* S_t m, or S_t^H m with `dagger`, for step t of set r. */
static inline mat2 step_times(const gate_args *A, int t, size_t r, mat2 m, int dagger) {
    if (A->axis[t] == CONSTANT) {
        const real *k = A->consts + 8 * A->arg[t];
        const mat2 c = dagger ? (mat2){{{k[0], k[4]}, {k[2], k[6]}}, {{-k[1], -k[5]}, {-k[3], -k[7]}}}
                              : (mat2){{{k[0], k[2]}, {k[4], k[6]}}, {{k[1], k[3]}, {k[5], k[7]}}};
        return mul2(c, m);
    }
    const size_t at = (size_t)A->P * r + A->arg[t];
    return rotate(A->axis[t], A->cos_half[at], dagger ? -A->sin_half[at] : A->sin_half[at], m);
}

/* The matrix of slot s of set r. */
static inline mat2 slot_matrix(const gate_args *A, int s, size_t r) {
    mat2 m = IDENTITY;
    for (int t = A->start[s]; t < A->start[s + 1]; t++) m = step_times(A, t, r, m, 0);
    return m;
}

int NAME(gates_forward)(const gate_args *A) {
    for (int r = 0; r < A->N; r++)
        for (int s = 0; s < A->slots; s++) {
            const mat2 m = slot_matrix(A, s, r);
            real *out = A->mats + ((size_t)A->slots * r + s) * 8;
            for (int x = 0; x < 2; x++)
                for (int y = 0; y < 2; y++) out[4 * x + 2 * y] = m.r[x][y], out[4 * x + 2 * y + 1] = m.i[x][y];
        }
    return 0;
}

int NAME(gates_backward)(const gate_args *A) {
    memset(A->grad_angles, 0, sizeof(real) * A->P * (size_t)A->N);
    for (int r = 0; r < A->N; r++) {
        real *grad_row = A->grad_angles + (size_t)A->P * r;
        for (int s = 0; s < A->slots; s++) {
            const real *g = A->grad_mats + ((size_t)A->slots * r + s) * 8;
            mat2 before = slot_matrix(A, s, r), G;
            for (int x = 0; x < 2; x++)
                for (int y = 0; y < 2; y++) G.r[x][y] = g[4 * x + 2 * y], G.i[x][y] = g[4 * x + 2 * y + 1];
            for (int t = A->start[s + 1] - 1; t >= A->start[s]; t--) {
                before = step_times(A, t, r, before, 1); /* S_{t-1} ... S_0 */
                if (A->axis[t] != CONSTANT) {
                    const size_t at = (size_t)A->P * r + A->arg[t];
                    const mat2 d = rotate(A->axis[t], -A->sin_half[at], A->cos_half[at], before); /* 2 dS_t B */
                    real dot = 0;
                    for (int x = 0; x < 2; x++)
                        for (int y = 0; y < 2; y++) dot += G.r[x][y] * d.r[x][y] + G.i[x][y] * d.i[x][y];
                    grad_row[A->arg[t]] += dot / 2;
                }
                G = step_times(A, t, r, G, 1); /* (S_t ... )^H G */
            }
        }
    }
    return 0;
}
