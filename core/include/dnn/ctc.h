/* Connectionist temporal classification (Graves et al., 2006): the loss, as
 * PyTorch's ctc_loss computes it, over unnormalized logits.
 *
 * logits (N, T, C) batch-first, unnormalized: a log_softmax over the classes
 * is taken inside (in double precision), so the loss is that of PyTorch's
 * ctc_loss(log_softmax(logits).transpose(0, 1), ...), and its gradient is
 * with respect to the logits: softmax(z) minus the posterior occupancy of
 * each class. labels (N, S): class ids from base, padded beyond each row's
 * length with anything (ids past the length are not read). The forward is
 * the alpha recursion over the label sequence extended with blanks, in log
 * space; the gradient comes from alpha and beta, computed with the value
 * when logits requires grad and saved in the node. Examples run in parallel
 * (OpenMP), each on its own buffers, and the batch is summed in order: the
 * result does not depend on the thread count.
 *
 * An alignment that is impossible (T_b shorter than the labels plus the
 * blanks that repeats need) has an infinite loss, and NaN gradients, as
 * PyTorch's; zero_infinity makes both 0. */
#ifndef DNN_CTC_H
#define DNN_CTC_H

#include <stdbool.h>
#include <stdint.h>

#include "dnn/tensor.h"

typedef enum {
  DNN_CTC_MEAN, /* each loss divided by its label length (at least 1), then the mean over the batch (PyTorch's) */
  DNN_CTC_SUM, /* the sum over the batch */
  DNN_CTC_NONE /* one loss per example, (N) */
} dnn_ctc_reduction;

typedef struct {
  int64_t blank; /* the blank's class, 0-based */
  dnn_ctc_reduction reduction;
  bool zero_infinity; /* infinite losses (and their gradients) become 0 */
  int base; /* ids in labels count from base (1 from Lua) */
} dnn_ctc_options;

/* The CTC loss. label_lengths and logit_lengths hold N lengths each, in
 * [0, S] and [0, T]; NULL means: a row's labels end before its first id
 * equal to base - 1 (Lua's padding 0), or at S; every example is T long.
 * Recorded for autograd with logits as the one input. */
dnn_tensor *dnn_ctc_loss(const dnn_tensor *labels, dnn_tensor *logits, const int64_t *label_lengths,
                         const int64_t *logit_lengths, const dnn_ctc_options *opt);

#endif
