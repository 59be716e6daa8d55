/* Scaled dot-product attention as one fused, recorded op:
 *   out = softmax(scale * q k^T, masked) v
 * computed as FlashAttention-2 does: for each block of query rows, the keys
 * are visited in blocks with a running (online) softmax, so only the output
 * and one log-sum-exp per query row are kept: memory O(T d) per head, not
 * O(T^2). Backward recomputes each block's probabilities from q, k and the
 * log-sum-exp and gives dq, dk, dv.
 *
 * Masks: a key j is allowed for query i when mask[.., i, j] != 0 (Keras's
 * 1 = attend) and, when causal, j <= i (top-left aligned: PyTorch's
 * is_causal, Keras's use_causal_mask). A query row with no allowed key gives
 * an output row of zeros (and zero gradients), not NaN. */
#ifndef DNN_ATTENTION_H
#define DNN_ATTENTION_H

#include <stdbool.h>

#include "dnn/tensor.h"

typedef struct {
  float scale; /* multiplies q k^T; 0: 1 / sqrt(d) */
  bool causal; /* query i attends to keys j <= i only */
  bool return_scores; /* outputs[1]: the probabilities (B, H, Tq, Tk), O(T^2) memory */
} dnn_attention_config;

/* q (B, H, Tq, d), k (B, H, Tk, d), v (B, H, Tk, dv): any strides with the last dim contiguous are read in place (a
 * transposed (B, T, H, d) projection costs no copy), others are copied. mask: NULL, or 0/1 values broadcastable to
 * (B, H, Tq, Tk) (2 to 4 dims, aligned at the right). outputs[0]: (B, H, Tq, dv); outputs[1]: the scores when
 * cfg->return_scores. New references, recorded as one node when q, k or v need gradients (none flows to the mask or
 * the scale). Gradients of gradients go through a decomposition into matmul, softmax and mask ops (O(T^2) memory).
 * Returns DNN_OK, or an error (argument errors name the argument: q 1, k 2, v 3, mask 4, the config 5) with the outputs
 * NULL. */
dnn_status dnn_attention(const dnn_attention_config *cfg, dnn_tensor *q, dnn_tensor *k, dnn_tensor *v, dnn_tensor *mask,
                         dnn_tensor **outputs);

#endif
