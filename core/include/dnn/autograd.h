/* Reverse-mode autodiff on a dynamic tape, as PyTorch. An op whose inputs
 * need grad records a node on its outputs: the backward function, the inputs
 * (retained), the tensors it saved, and whatever context it owns. The engine
 * walks the nodes in reverse topological order, accumulates into leaves' grad
 * (or returns the gradients, dnn_grad), and frees the graph unless asked to
 * keep it.
 *
 * Versions: every storage counts its in-place writes. A node remembers the
 * version of each tensor it saved, and of its inputs unless it reads only
 * their shapes; backward refuses a tensor whose version moved since, so a
 * write in place can never yield a wrong gradient (PyTorch's rule).
 *
 * Gradients of gradients: with create_graph the backward runs with grad mode
 * on. A node flagged DNN_NODE_DIFFERENTIABLE computes its gradients with
 * recorded ops whenever grad mode is on; one with a decompose function is
 * differentiated through that (its forward rebuilt from recorded ops); any
 * other node's gradients are marked so that differentiating them again raises
 * an error naming the op, never a silent zero. A recorded gradient that does
 * not depend on the inputs (relu's mask times a constant g) stays in the graph
 * and differentiates to zeros, as in PyTorch. */
#ifndef DNN_AUTOGRAD_H
#define DNN_AUTOGRAD_H

#include "dnn/tensor.h"

typedef struct dnn_node dnn_node;

/* Computes grad_in[i] (a new tensor of inputs[i]'s shape) for every input i
 * with dnn_node_needs_grad(node, i); leaves the others NULL. grad_out[k] is
 * the gradient of output k: contiguous, of that output's shape (zeros where
 * no gradient reached an output of a node with several). */
typedef dnn_status (*dnn_backward_fn)(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **grad_in);

/* Rebuilds the node's outputs from its inputs with recorded ops (grad mode is
 * on when it runs): how a fused op gets second derivatives. outputs[k] gets a
 * new tensor for each output k. */
typedef dnn_status (*dnn_decompose_fn)(dnn_node *node, dnn_tensor *const *inputs, dnn_tensor **outputs);

enum {
  DNN_NODE_SHAPES_ONLY = 1u << 0, /* backward reads its inputs' shapes, not their values */
  DNN_NODE_DIFFERENTIABLE = 1u << 1, /* backward is made of recorded ops when grad mode is on */
  DNN_NODE_VIEW = 1u << 2, /* the output shares its input's storage */
};

typedef struct {
  dnn_tensor *tensor; /* retained; an alias where it is the op's own output */
  uint64_t version; /* its storage's version when saved */
} dnn_saved;

typedef struct {
  int ndim;
  int64_t shape[DNN_MAX_DIMS];
  dnn_tensor *grad; /* engine state: the gradient accumulated so far */
} dnn_node_output;

struct dnn_node {
  const char *op; /* op name, for errors */
  dnn_backward_fn backward;
  dnn_decompose_fn decompose; /* optional */
  unsigned flags; /* DNN_NODE_* */
  int n_inputs;
  dnn_tensor **inputs; /* retained */
  uint64_t *input_versions; /* their storages' versions when recorded */
  int n_outputs;
  dnn_node_output *outputs;
  int n_saved, saved_cap;
  dnn_saved *saved;
  void *ctx; /* the op's own context, freed with ctx_free when the graph goes */
  void (*ctx_free)(void *ctx);
  double fargs[6]; /* scalar op parameters */
  int64_t iargs[DNN_MAX_DIMS + 2];
  const char *scope; /* what was running when it was recorded (a layer and its line), or NULL; shared */
  int refcount; /* held by each output tensor and by the engine */
  bool released; /* the graph was freed by a backward pass */
  /* engine state during backward */
  int pending;
  unsigned mark;
  bool needed;
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
dnn_node *dnn_record(dnn_tensor *out, const char *op, dnn_backward_fn backward, int n, dnn_tensor *const *inputs);
/* The same for an op of several outputs (a fused cell's h and c, split). */
dnn_node *dnn_record_outputs(int n_out, dnn_tensor *const *outs, const char *op, dnn_backward_fn backward, int n,
                             dnn_tensor *const *inputs);

/* Saves t for backward (taking over the caller's reference; t may be NULL
 * after a failed allocation, then an error is returned) with its version. */
dnn_status dnn_node_save(dnn_node *node, dnn_tensor *t);
static inline dnn_tensor *dnn_node_saved(const dnn_node *node, int i) { return node->saved[i].tensor; }

/* Whether input i of node needs a gradient. */
bool dnn_node_needs_grad(const dnn_node *node, int i);

/* During backward: input i's gradient buffer (contiguous, of its shape, zeros
 * when new) for a backward to add a slice's gradient into, or NULL when
 * there is none to write into in place (create_graph); then the backward
 * returns grad_in[i] as usual. Lets the T slices of one tensor cost O(T). */
dnn_tensor *dnn_node_grad_buffer(dnn_node *node, int i);

/* Names what is running for the nodes recorded from now on (a layer and the
 * script line that made it), or NULL; copied. Per thread. */
void dnn_autograd_set_scope(const char *scope);
const char *dnn_autograd_scope(void);

/* Called by backward once for each leaf that requires grad and that the pass
 * reaches (an input of a node of the pass, or a root), as soon as no node
 * still to run adds to its grad: leaf->grad is then final for this pass (NULL
 * when nothing reached it and it had none). Leaves come in the order they
 * become final, while the rest of the backward is still to run; the hook
 * may read and write leaf->grad's values (not replace it). A status other
 * than DNN_OK stops the backward with that status. */
typedef dnn_status (*dnn_leaf_ready_fn)(dnn_tensor *leaf, void *ud);

typedef struct {
  bool retain_graph; /* keep the graph for another backward */
  bool create_graph; /* record the backward, so gradients have gradients */
  dnn_leaf_ready_fn leaf_ready; /* backward only (dnn_grad refuses it); may be NULL */
  void *leaf_ready_ud; /* passed to leaf_ready */
} dnn_backward_opts;

/* Runs backward from root. grad may be NULL when root has one element (then
 * a gradient of 1 is used). Accumulates into leaves' grad; frees the graph. */
dnn_status dnn_backward(dnn_tensor *root, dnn_tensor *grad);
/* The same from several roots (grads[i] may be NULL for one-element roots),
 * with options (opts may be NULL). */
dnn_status dnn_backward_ex(int n, dnn_tensor *const *roots, dnn_tensor *const *grads, const dnn_backward_opts *opts);

/* Gradients of outputs (seeded with grad_outputs, each may be NULL for a
 * one-element output) with respect to inputs, into grads[i] (new references;
 * NULL for an input the outputs do not depend on). Touches no .grad. */
dnn_status dnn_grad(int n_out, dnn_tensor *const *outputs, dnn_tensor *const *grad_outputs, int n_in,
                    dnn_tensor *const *inputs, dnn_tensor **grads, const dnn_backward_opts *opts);

/* Marks a tensor as a leaf that requires grad (or not). Refused on non-leaf. */
dnn_status dnn_set_requires_grad(dnn_tensor *t, bool on);

/* A new tensor sharing t's data, cut from the graph. */
dnn_tensor *dnn_detach(dnn_tensor *t);

/* Sums g over broadcast dims so that it has shape (ndim, shape): what every
 * broadcasting op's backward needs. Returns a new tensor (g retained if it
 * already has that shape). Recorded, so it serves create_graph too. */
dnn_tensor *dnn_sum_to_shape(dnn_tensor *g, int ndim, const int64_t *shape);

/* In-place writes: t's storage changed (optimizer steps, fill, copy, ...). */
static inline void dnn_bump_version(dnn_tensor *t) { t->storage->version++; }

/* Before writing into t in place from fn: refuses a leaf that requires grad
 * while grad mode is on (PyTorch's rule), and a view of a tensor in the
 * graph (its base would not learn of the write). */
dnn_status dnn_check_inplace(const char *fn, const dnn_tensor *t);

/* Makes t hold result (same shape; result made from an alias of t, see
 * dnn_inplace_source) and, when result was recorded, take over its history:
 * t's grad_fn becomes result's. Bumps t's version. */
dnn_status dnn_inplace_assign(const char *fn, dnn_tensor *t, dnn_tensor *result);
/* The tensor an in-place op on t computes from: an alias with t's history. */
dnn_tensor *dnn_inplace_source(dnn_tensor *t);

void dnn_node_release(dnn_node *node);

#endif
