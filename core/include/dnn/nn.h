/* Layer kernels and losses: fused where fusing pays (Dense = GEMM + bias +
 * activation; each loss's value and gradient). Recorded for autodiff like
 * every op. */
#ifndef DNN_NN_H
#define DNN_NN_H

#include "dnn/tensor.h"

typedef enum {
  DNN_ACT_LINEAR,
  DNN_ACT_RELU,
  DNN_ACT_LEAKY_RELU, /* slope in the op's alpha argument */
  DNN_ACT_SIGMOID,
  DNN_ACT_TANH,
  DNN_ACT_SOFTMAX /* over the last dim */
} dnn_activation;

/* Activation by Keras name ("relu", ...); -1 when unknown. */
int dnn_activation_from_name(const char *name);
/* act(z) as its own recorded op (linear: z itself, retained): the unfused form of a layer's activation. */
dnn_tensor *dnn_activate(dnn_tensor *z, dnn_activation act, float alpha);

/* y = act(x @ W + b); x (..., in), W (in, out), b (out) or NULL. */
dnn_tensor *dnn_dense(dnn_tensor *x, dnn_tensor *w, dnn_tensor *b, dnn_activation act, float alpha);

/* softmax / log-softmax over dim. */
dnn_tensor *dnn_softmax(dnn_tensor *x, int dim);
dnn_tensor *dnn_log_softmax(dnn_tensor *x, int dim);

/* Losses: see dnn/losses.h. */
#include "dnn/losses.h"

/* ---- layers: dropout, normalization, PReLU (nn_dropout.c, nn_norm.c, nn_activation.c) ---- */
#include "dnn/random.h"

/* Inverted dropout: y = x * m, m = (u >= rate) / (1 - rate), u ~ U[0, 1) drawn from the dnn PRNG, or from *rng
 * (which advances) when rng is not NULL; rate in [0, 1). Saves m for backward. */
dnn_tensor *dnn_dropout(dnn_tensor *x, float rate, dnn_rng_state *rng);
/* y = x * mask, mask a given tensor of x's shape (0 or the kept scale): dropout with a fixed mask, dx = g * mask. */
dnn_tensor *dnn_dropout_mask(dnn_tensor *x, dnn_tensor *mask);
/* A generator state seeded as dnn_manual_seed(seed) would seed the global one (which is left as it was). */
void dnn_rng_seeded_state(uint64_t seed, dnn_rng_state *out);

typedef struct {
  int axis; /* the channel dim: statistics over every other dim (negative counts from the end) */
  bool training; /* batch statistics (and moving-stat updates), else the moving ones */
  float momentum; /* moving = moving * momentum + batch * (1 - momentum), as Keras */
  float epsilon;
} dnn_batch_norm_config;

/* y = gamma * (x - mean) / sqrt(var + epsilon) + beta per channel; training: mean and biased var of the batch, and
 * moving_mean / moving_var (when given) updated in place with them, as Keras; inference: the moving ones (needed).
 * gamma, beta (C) may be NULL (1 and 0). Backward gives dx, dgamma, dbeta. */
dnn_tensor *dnn_batch_norm(dnn_tensor *x, dnn_tensor *gamma, dnn_tensor *beta, dnn_tensor *moving_mean,
                           dnn_tensor *moving_var, const dnn_batch_norm_config *cfg);

/* y = gamma * (x - mean) / sqrt(var + epsilon) + beta, mean and biased var over the last naxes dims of each
 * example; gamma, beta of those dims' shape, or NULL. */
dnn_tensor *dnn_layer_norm(dnn_tensor *x, dnn_tensor *gamma, dnn_tensor *beta, int naxes, float epsilon);

/* y = x if x > 0 else alpha * x; alpha matches x's trailing dims, with 1 where it is shared (Keras's shared_axes). */
dnn_tensor *dnn_prelu(dnn_tensor *x, dnn_tensor *alpha);

/* ---- embedding (nn_embedding.c) ---- */

/* y[p, :] = table[ids[p] - 1, :]: ids (any shape, whole numbers as floats, counted from 1) -> y (ids's shape, D),
 * table (V, D). With mask_zero, id 0 is padding and gives a row of zeros (and no gradient); any other id outside
 * 1..V is an error naming it and its position. Backward: embedding_grad. */
dnn_tensor *dnn_embedding(dnn_tensor *table, dnn_tensor *ids, bool mask_zero);
/* The table's gradient: out[v - 1, :] = sum of g[p, :] over the positions p with ids[p] = v (padding left out);
 * g (ids's shape, D) -> (rows, D). Each row is summed in position order: the same at any thread count. Recorded
 * with embedding as its backward, so gradients of any order work. */
dnn_tensor *dnn_embedding_grad(dnn_tensor *g, dnn_tensor *ids, int64_t rows, bool mask_zero);

#endif
