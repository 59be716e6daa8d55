/* Reverse-mode autodiff on a dynamic tape, as PyTorch. An op whose inputs
 * need grad records a node on its output: the backward function, the inputs
 * (retained) and whatever it saved. dnn_backward() walks the nodes in reverse
 * topological order, accumulates into leaves' grad, and frees the graph. */
#ifndef DNN_AUTOGRAD_H
#define DNN_AUTOGRAD_H

#include "dnn/tensor.h"

typedef struct dnn_node dnn_node;

/* Computes grad_in[i] (a new tensor of inputs[i]'s shape) for every input i
 * with dnn_node_needs_grad(node, i); leaves the others NULL. grad_out is
 * contiguous with the output's shape. Returns DNN_OK or an error status. */
typedef dnn_status (*dnn_backward_fn)(dnn_node *node, dnn_tensor *grad_out, dnn_tensor **grad_in);

#define DNN_NODE_SAVED 4

struct dnn_node {
  const char *op;           /* op name, for errors and for loss fusion */
  dnn_backward_fn backward;
  int n_inputs;
  dnn_tensor **inputs;      /* retained */
  dnn_tensor *saved[DNN_NODE_SAVED]; /* retained; released with the graph */
  double fargs[6];          /* scalar op parameters */
  int64_t iargs[DNN_MAX_DIMS + 2];
  int refcount;             /* held by the output tensor and by the engine */
  bool released;            /* the graph was freed by a backward pass */
  /* engine state during backward */
  dnn_tensor *grad_acc;
  int pending;
  unsigned mark; /* visited in the backward pass numbered mark */
};

/* Grad mode, per thread (dnn.no_grad turns it off). */
bool dnn_grad_enabled(void);
void dnn_set_grad_enabled(bool on);

/* Whether an op with these inputs must be recorded. */
bool dnn_needs_record(int n, dnn_tensor *const *inputs);

/* Records a node producing out from inputs (retains them) when
 * dnn_needs_record(); returns the node (to save tensors or args on) or NULL
 * when nothing was recorded. Returns NULL with out->grad_fn unset also on
 * allocation failure: check dnn_errcode() is DNN_ENOMEM only if that matters. */
dnn_node *dnn_record(dnn_tensor *out, const char *op, dnn_backward_fn backward, int n,
                     dnn_tensor *const *inputs);

/* Whether input i of node needs a gradient. */
bool dnn_node_needs_grad(const dnn_node *node, int i);

/* Runs backward from root. grad may be NULL when root has one element (then
 * a gradient of 1 is used). Accumulates into leaves' grad; frees the graph. */
dnn_status dnn_backward(dnn_tensor *root, dnn_tensor *grad);

/* Marks a tensor as a leaf that requires grad (or not). Refused on non-leaf. */
dnn_status dnn_set_requires_grad(dnn_tensor *t, bool on);

/* A new tensor sharing t's data, cut from the graph. */
dnn_tensor *dnn_detach(dnn_tensor *t);

/* Sums g over broadcast dims so that it has shape (ndim, shape): what every
 * broadcasting op's backward needs. Returns a new tensor (g retained if it
 * already has that shape). */
dnn_tensor *dnn_sum_to_shape(dnn_tensor *g, int ndim, const int64_t *shape);

void dnn_node_release(dnn_node *node);

#endif
