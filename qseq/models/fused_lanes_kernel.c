/* The fused QLSTM layer's forward pass without gradients in C, its banks evaluated gate by gate with
 * the batch across SIMD lanes (backends/engine/compiled_lanes.c): 8·D multiply-adds per gate,
 * circuit and input against 4·D² for the dense unitary of fused_kernel.c, and nothing kept for a
 * backward pass. The same equations as qlstm_forward there (and as qseq/models/fused.py, the
 * reference): the encoding (fused_encoding.h), the gate bank VQC1-4, the LSTM update, the hidden
 * bank VQC5(-6). Compiled twice by qseq._native, with and without QSEQ_FLOAT; the entry point takes
 * one struct of sizes and pointers (qseq/models/fused_native.py builds it).
 */
#include "_native.h"
#include "backends/engine/compiled_lanes.c"
#include "models/fused_encoding.h"

typedef struct {
    int T, B, I, H, n, K2, readout;                   /* as qlstm_args (fused_kernel.c) */
    const real *x, *h0, *c0, *keep, *proj_w, *proj_b; /* as qlstm_args */
    const real *alpha, *off, *hz;                     /* the encoding, as qlstm_args */
    const real *mg, *mh; /* (4, L, n, 2, 2), (K2, L, n, 2, 2) complex: each circuit's Local matrices after
                            the preparation (the layer's VQC1-4, then VQC5-6) */
    int S;                                            /* the stages after the preparation */
    const int *kind, *phased;                         /* (S), (P): as lanes_args */
    const long long *source;                          /* (P, D) */
    const real *phase;                                /* (P, D) complex */
    real *ys, *h, *c;                                 /* as qlstm_args */
} qlstm_lanes_args;

/* <Z_q> of one circuit (Local matrices `mats`) for the block's lanes, whose preparation rows are set. */
static void bank_expvals(lanes_args *L, const real *mats, int count, block *b, lane *ev) {
    const int last = read_stage(L);
    L->mats = mats;
    prepare(L, 0, count, b);
    evolve(L, 0, count, last, b);
    lane m[8];
    for (int q = 0; q < L->n; q++) {
        read_matrix(L, 0, count, last, q, m);
        ev[q] = z_after(L->n, q, m, b->re, b->im);
    }
}

/* Lane l's preparation row from the encoded values p (n): each wire's state as its first column. */
static void encode_lane(const qlstm_lanes_args *A, const real *p, real *z, real *row) {
    const int n = A->n;
    wire_factors(n, p, A->alpha, A->off, A->hz, z, 0, 0, 0, 0);
    memset(row, 0, sizeof(real) * 8 * n);
    for (int q = 0; q < n; q++) {
        row[8 * q] = z[4 * q], row[8 * q + 1] = z[4 * q + 1];         /* m00: wire state at bit 0 */
        row[8 * q + 4] = z[4 * q + 2], row[8 * q + 5] = z[4 * q + 3]; /* m10: at bit 1 */
    }
}

/* The layer's forward pass without gradients, LW inputs at a time across the lanes. */
int NAME(qlstm_lanes_forward)(const qlstm_lanes_args *A) {
    const int T = A->T, B = A->B, I = A->I, H = A->H, n = A->n, IH = I + H, D = 1 << n;
    const int out_size = A->readout ? n : H; /* n <= LANES_MAX_QUBITS (10), K2 <= 2: qlstm_lanes_layer */
    lanes_args L;
    memset(&L, 0, sizeof L);
    L.n = n, L.S = A->S, L.kind = A->kind, L.source = A->source, L.phase = A->phase, L.phased = A->phased;
    L.per_group = 1 << 30, L.n_prep = LW, L.prep_stride = 8 * n; /* every lane shares the circuit's matrices */
    const long long circuit = 8LL * n * count_local(&L, L.S);   /* reals of one circuit's matrices */
    lane *scratch = aligned_alloc(sizeof(lane), 4 * sizeof(lane) << n);
    real *work = malloc(sizeof(real) * (LW * 8 * n + IH + LW * n + 4 * n));
    if (!scratch || !work) {
        free(scratch), free(work);
        return 1;
    }
    real *rows = work, *v = rows + LW * 8 * n, *u = v + IH, *z = u + LW * n;
    L.prep = rows;
    block b;
    memset(&b, 0, sizeof b);
    b.re = scratch, b.im = scratch + D, b.tre = scratch + 2 * D, b.tim = scratch + 3 * D;
    lane ev[4][10], evh[2][10];
    real *h = A->h, *c = A->c;
    memcpy(h, A->h0, sizeof(real) * B * H);
    memcpy(c, A->c0, sizeof(real) * B * n);
    for (int t = 0; t < T; t++)
        for (int b0 = 0; b0 < B; b0 += LW) {
            const int count = B - b0 < LW ? B - b0 : LW;
            for (int l = 0; l < count; l++) {
                real *hb = h + (size_t)(b0 + l) * H, *cb = c + (size_t)(b0 + l) * n, *pb = u + l * n;
                if (A->keep) {
                    const real k = A->keep[(size_t)t * B + b0 + l];
                    for (int j = 0; j < H; j++) hb[j] *= k;
                    for (int j = 0; j < n; j++) cb[j] *= k;
                }
                memcpy(v, A->x + ((size_t)t * B + b0 + l) * I, sizeof(real) * I);
                memcpy(v + I, hb, sizeof(real) * H);
                for (int q = 0; q < n; q++) {
                    real s = A->proj_b ? A->proj_b[q] : 0;
                    if (A->proj_w)
                        for (int j = 0; j < IH; j++) s += A->proj_w[(size_t)q * IH + j] * v[j];
                    else
                        s = v[q];
                    pb[q] = s;
                }
                encode_lane(A, pb, z, rows + (size_t)l * 8 * n);
            }
            for (int k = 0; k < 4; k++) bank_expvals(&L, A->mg + k * circuit, count, &b, ev[k]);
            for (int l = 0; l < count; l++) {
                real *cb = c + (size_t)(b0 + l) * n, *ub = u + l * n;
                for (int j = 0; j < n; j++) { /* as qlstm_forward */
                    const real f = 1 / (1 + EXP(-ev[0][j][l])), i = 1 / (1 + EXP(-ev[1][j][l]));
                    const real g = 2 / (1 + EXP(-2 * ev[2][j][l])) - 1, o = 1 / (1 + EXP(-ev[3][j][l]));
                    cb[j] = f * cb[j] + i * g;
                    ub[j] = o * TANH(cb[j]);
                }
                encode_lane(A, ub, z, rows + (size_t)l * 8 * n);
            }
            for (int k = 0; k < A->K2; k++) bank_expvals(&L, A->mh + k * circuit, count, &b, evh[k]);
            for (int l = 0; l < count; l++) {
                real *hb = h + (size_t)(b0 + l) * H, *yb = A->ys + ((size_t)t * B + b0 + l) * out_size;
                for (int j = 0; j < H; j++) hb[j] = evh[0][j][l];
                for (int j = 0; j < out_size; j++) yb[j] = evh[A->readout ? 1 : 0][j][l];
            }
        }
    free(scratch), free(work);
    return 0;
}

