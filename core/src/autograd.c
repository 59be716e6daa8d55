/* The autodiff engine: recording nodes and running backward (Kahn's order
 * over the nodes reachable from the root). */
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"

static _Thread_local bool grad_disabled;

bool dnn_grad_enabled(void) { return !grad_disabled; }
void dnn_set_grad_enabled(bool on) { grad_disabled = !on; }

bool dnn_needs_record(int n, dnn_tensor *const *inputs) {
  if (grad_disabled) return false;
  for (int i = 0; i < n; i++)
    if (inputs[i] && inputs[i]->requires_grad) return true;
  return false;
}

dnn_node *dnn_record(dnn_tensor *out, const char *op, dnn_backward_fn backward, int n,
                     dnn_tensor *const *inputs) {
  if (!dnn_needs_record(n, inputs)) return NULL;
  dnn_node *node = calloc(1, sizeof *node);
  dnn_tensor **ins = malloc((size_t)n * sizeof *ins);
  if (!node || !ins) {
    free(node);
    free(ins);
    dnn_error(DNN_ENOMEM, op, "out of memory recording the graph");
    return NULL;
  }
  for (int i = 0; i < n; i++) ins[i] = dnn_tensor_retain(inputs[i]);
  node->op = op;
  node->backward = backward;
  node->n_inputs = n;
  node->inputs = ins;
  node->refcount = 1;
  out->grad_fn = node;
  out->requires_grad = true;
  return node;
}

bool dnn_node_needs_grad(const dnn_node *node, int i) {
  return i < node->n_inputs && node->inputs[i] && node->inputs[i]->requires_grad;
}

/* Drops what the node holds for backward; the node itself lives on while its
 * output does (so a second backward can say the graph is gone). */
static void node_free_graph(dnn_node *node) {
  if (node->inputs) {
    for (int i = 0; i < node->n_inputs; i++) dnn_tensor_release(node->inputs[i]);
    free(node->inputs);
    node->inputs = NULL;
  }
  for (int i = 0; i < DNN_NODE_SAVED; i++) {
    dnn_tensor_release(node->saved[i]);
    node->saved[i] = NULL;
  }
  dnn_tensor_release(node->grad_acc);
  node->grad_acc = NULL;
  node->n_inputs = 0;
  node->released = true;
}

/* Nodes whose last reference went while another node was being freed. Freeing
 * a node releases its inputs, which may free their nodes in turn: done by
 * recursion, a long unfreed graph (a loss summed over many steps with grad on)
 * would overflow the C stack, so the inner frees queue here instead. */
static _Thread_local struct {
  dnn_node **items;
  size_t n, cap;
  bool active;
} dead;

static bool defer_free(dnn_node *node) {
  if (dead.n == dead.cap) {
    size_t cap = dead.cap ? dead.cap * 2 : 64;
    dnn_node **items = realloc(dead.items, cap * sizeof *items);
    if (!items) return false; /* then free it right away, recursing */
    dead.items = items;
    dead.cap = cap;
  }
  dead.items[dead.n++] = node;
  return true;
}

void dnn_node_release(dnn_node *node) {
  if (!node || --node->refcount > 0) return;
  if (dead.active && defer_free(node)) return;
  bool outermost = !dead.active;
  dead.active = true;
  node_free_graph(node);
  free(node);
  if (!outermost) return;
  while (dead.n > 0) {
    dnn_node *next = dead.items[--dead.n];
    node_free_graph(next);
    free(next);
  }
  free(dead.items);
  dead.items = NULL;
  dead.cap = 0;
  dead.active = false;
}

dnn_status dnn_set_requires_grad(dnn_tensor *t, bool on) {
  if (t->grad_fn)
    return dnn_error(DNN_ESTATE, "requires_grad",
                     "only leaf tensors can change requires_grad (this one was made by '%s'); use detach()",
                     t->grad_fn->op);
  t->requires_grad = on;
  return DNN_OK;
}

dnn_tensor *dnn_detach(dnn_tensor *t) { return dnn_alias(t); }

/* ---- accumulating gradients ---- */

static bool exclusively_owned(const dnn_tensor *t) {
  return atomic_load(&t->refcount) == 1 && atomic_load(&t->storage->refcount) == 1 && dnn_is_contiguous(t) &&
         t->offset == 0 && !t->grad_fn;
}

/* dst += src; dst contiguous, of src's shape. */
static dnn_status add_into(dnn_tensor *dst, const dnn_tensor *src) {
  float *d = dnn_data(dst);
  int64_t n = dnn_numel(dst);
  if (dnn_is_contiguous(src)) {
    const float *s = dnn_data(src);
    for (int64_t i = 0; i < n; i++) d[i] += s[i];
    return DNN_OK;
  }
  float *tmp = malloc((size_t)(n ? n : 1) * sizeof(float));
  if (!tmp) return dnn_error(DNN_ENOMEM, "backward", "out of memory");
  dnn_gather_to(src, tmp);
  for (int64_t i = 0; i < n; i++) d[i] += tmp[i];
  free(tmp);
  return DNN_OK;
}

static dnn_tensor *contiguous_copy(const dnn_tensor *t) {
  dnn_tensor *c = dnn_empty(t->ndim, t->shape);
  if (c) dnn_gather_to(t, dnn_data(c));
  return c;
}

/* *slot += g, where *slot may be NULL; takes over the caller's reference to g.
 * A slot shared with anyone else is replaced by a sum, never added into. */
static dnn_status accumulate(dnn_tensor **slot, dnn_tensor *g) {
  if (!*slot) {
    *slot = exclusively_owned(g) ? dnn_tensor_retain(g) : contiguous_copy(g);
    dnn_tensor_release(g);
    return *slot ? DNN_OK : dnn_error(DNN_ENOMEM, "backward", "out of memory");
  }
  if (!exclusively_owned(*slot)) {
    dnn_tensor *c = contiguous_copy(*slot);
    if (!c) {
      dnn_tensor_release(g);
      return dnn_error(DNN_ENOMEM, "backward", "out of memory");
    }
    dnn_tensor_release(*slot);
    *slot = c;
  }
  dnn_status st = add_into(*slot, g);
  dnn_tensor_release(g);
  return st;
}

/* A leaf's grad is accumulated in place, so a Lua reference to w.grad sees
 * the new values (as PyTorch). */
static dnn_status accumulate_leaf(dnn_tensor *leaf, dnn_tensor *g) {
  if (!leaf->grad) {
    leaf->grad = exclusively_owned(g) ? dnn_tensor_retain(g) : contiguous_copy(g);
    dnn_tensor_release(g);
    return leaf->grad ? DNN_OK : dnn_error(DNN_ENOMEM, "backward", "out of memory");
  }
  if (!dnn_same_shape(leaf->grad, g)) { /* a grad set by hand to another shape */
    char a[96], b[96];
    dnn_status st = dnn_error(DNN_ESTATE, "backward", "a leaf's grad has shape %s, its new gradient %s",
                              dnn_shape_str(leaf->grad, a, sizeof a), dnn_shape_str(g, b, sizeof b));
    dnn_tensor_release(g);
    return st;
  }
  if (!dnn_is_contiguous(leaf->grad)) { /* a strided grad set by hand: replaced by the sum */
    dnn_tensor *c = contiguous_copy(leaf->grad);
    if (!c) {
      dnn_tensor_release(g);
      return dnn_error(DNN_ENOMEM, "backward", "out of memory");
    }
    dnn_tensor_release(leaf->grad);
    leaf->grad = c;
  }
  dnn_status st = add_into(leaf->grad, g);
  dnn_tensor_release(g);
  return st;
}

/* ---- the backward pass ---- */

typedef struct {
  dnn_node **items;
  size_t n, cap;
} node_list;

static bool list_push(node_list *l, dnn_node *node) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    dnn_node **items = realloc(l->items, cap * sizeof *items);
    if (!items) return false;
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n++] = node;
  return true;
}

/* Adds node to the engine's list, which holds a reference to it: freeing one
 * node's inputs may drop the last tensor owning another node of the list. */
static bool hold(node_list *all, dnn_node *node) {
  if (!list_push(all, node)) return false;
  node->refcount++;
  return true;
}

/* Every node reachable from root, each once, with pending = its number of
 * consumers among them. */
static dnn_status collect(dnn_node *root, node_list *all) {
  static _Thread_local unsigned epoch;
  unsigned mark = ++epoch;
  node_list stack = {0};
  dnn_status st = DNN_OK;
  root->pending = 0;
  root->mark = mark;
  if (!hold(all, root) || !list_push(&stack, root)) st = dnn_error(DNN_ENOMEM, "backward", "out of memory");
  while (st == DNN_OK && stack.n > 0) {
    dnn_node *node = stack.items[--stack.n];
    if (node->released) {
      st = dnn_error(DNN_ESTATE, "backward",
                     "the graph through '%s' was already freed by an earlier backward(); run the forward again",
                     node->op);
      break;
    }
    for (int i = 0; i < node->n_inputs; i++) {
      dnn_tensor *in = node->inputs[i];
      if (!in || !in->grad_fn) continue;
      dnn_node *child = in->grad_fn;
      if (child->mark != mark) {
        child->mark = mark;
        child->pending = 0;
        if (!hold(all, child) || !list_push(&stack, child)) {
          st = dnn_error(DNN_ENOMEM, "backward", "out of memory");
          break;
        }
      }
      child->pending++;
    }
  }
  free(stack.items);
  return st;
}

static void free_graph(node_list *all) {
  for (size_t i = 0; i < all->n; i++) node_free_graph(all->items[i]);
  for (size_t i = 0; i < all->n; i++) dnn_node_release(all->items[i]);
  free(all->items);
}

static dnn_status check_grad_shape(const dnn_node *node, int i, const dnn_tensor *g) {
  if (dnn_same_shape(g, node->inputs[i])) return DNN_OK;
  char a[96], b[96];
  return dnn_error(DNN_ESTATE, "backward", "'%s' gave a gradient of shape %s for input %d of shape %s", node->op,
                   dnn_shape_str(g, a, sizeof a), i + 1, dnn_shape_str(node->inputs[i], b, sizeof b));
}

static dnn_status run_node(dnn_node *node, node_list *ready) {
  dnn_tensor *g = node->grad_acc;
  node->grad_acc = NULL;
  dnn_status st = DNN_OK;
  int n = node->n_inputs;
  dnn_tensor *gin_small[8];
  dnn_tensor **gin = n <= 8 ? gin_small : calloc((size_t)n, sizeof *gin);
  if (!gin) {
    dnn_tensor_release(g);
    return dnn_error(DNN_ENOMEM, "backward", "out of memory");
  }
  memset(gin, 0, (size_t)n * sizeof *gin);
  if (g) st = node->backward(node, g, gin);
  dnn_tensor_release(g);
  for (int i = 0; i < n; i++) {
    dnn_tensor *in = node->inputs[i];
    if (st == DNN_OK && gin[i]) {
      st = check_grad_shape(node, i, gin[i]);
      if (st == DNN_OK) {
        st = in->grad_fn ? accumulate(&in->grad_fn->grad_acc, gin[i]) : accumulate_leaf(in, gin[i]);
        gin[i] = NULL;
      }
    }
    dnn_tensor_release(gin[i]);
    if (in && in->grad_fn && --in->grad_fn->pending == 0 && !list_push(ready, in->grad_fn) && st == DNN_OK)
      st = dnn_error(DNN_ENOMEM, "backward", "out of memory");
  }
  if (gin != gin_small) free(gin);
  return st;
}

dnn_status dnn_backward(dnn_tensor *root, dnn_tensor *grad) {
  if (!root->requires_grad)
    return dnn_error(DNN_ESTATE, "backward", "the tensor does not require grad (no input of it has requires_grad)");
  if (grad && !dnn_same_shape(grad, root)) {
    char a[96], b[96];
    return dnn_argerror(2, "backward", "expected a gradient of shape %s, got %s", dnn_shape_str(root, a, sizeof a),
                        dnn_shape_str(grad, b, sizeof b));
  }
  if (!grad && dnn_numel(root) != 1) {
    char a[96];
    return dnn_error(DNN_EARG, "backward",
                     "a gradient is needed for a non-scalar output of shape %s (pass one, or reduce with sum/mean)",
                     dnn_shape_str(root, a, sizeof a));
  }
  dnn_tensor *seed = grad ? dnn_tensor_retain(grad) : dnn_full(root->ndim, root->shape, 1.0f);
  if (!seed) return DNN_ENOMEM;
  if (!root->grad_fn) return accumulate_leaf(root, seed);

  bool was_enabled = dnn_grad_enabled();
  dnn_set_grad_enabled(false); /* backward itself is not recorded */
  node_list all = {0}, ready = {0};
  dnn_status st = collect(root->grad_fn, &all);
  if (st == DNN_OK) {
    root->grad_fn->grad_acc = seed->grad_fn || !dnn_is_contiguous(seed) ? contiguous_copy(seed) : dnn_tensor_retain(seed);
    if (!list_push(&ready, root->grad_fn)) st = dnn_error(DNN_ENOMEM, "backward", "out of memory");
  }
  dnn_tensor_release(seed);
  for (size_t next = 0; st == DNN_OK && next < ready.n; next++) st = run_node(ready.items[next], &ready);
  free(ready.items);
  free_graph(&all);
  dnn_set_grad_enabled(was_enabled);
  return st;
}

/* ---- reducing a broadcast gradient ---- */

/* Whether g's shape broadcasts from shape (right-aligned, sizes equal or 1). */
static bool broadcasts_from(const dnn_tensor *g, int ndim, const int64_t *shape) {
  if (ndim > g->ndim) return false;
  for (int d = 0; d < ndim; d++)
    if (shape[d] != 1 && shape[d] != g->shape[d + g->ndim - ndim]) return false;
  return true;
}

dnn_tensor *dnn_sum_to_shape(dnn_tensor *g, int ndim, const int64_t *shape) {
  if (g->ndim == ndim && memcmp(g->shape, shape, (size_t)ndim * sizeof *shape) == 0) return dnn_tensor_retain(g);
  if (!broadcasts_from(g, ndim, shape)) {
    char a[96];
    dnn_error(DNN_EARG, "backward", "a gradient of shape %s does not reduce to a %d-d shape it broadcasts from",
              dnn_shape_str(g, a, sizeof a), ndim);
    return NULL;
  }
  dnn_tensor *out = dnn_zeros(ndim, shape);
  if (!out) return NULL;
  /* Map each of g's dims onto out's (right-aligned); a broadcast dim of out
   * gets stride 0, so every element of g adds into its place. */
  int64_t ostride[DNN_MAX_DIMS] = {0};
  int lead = g->ndim - ndim;
  for (int d = 0; d < ndim; d++) {
    int gd = d + lead;
    ostride[gd] = shape[d] == 1 ? 0 : out->stride[d];
  }
  int64_t n = dnn_numel(g);
  if (n == 0) return out;
  float *tmp = NULL;
  const float *src = dnn_data(g);
  if (!dnn_is_contiguous(g)) {
    tmp = malloc((size_t)n * sizeof(float));
    if (!tmp) {
      dnn_tensor_release(out);
      dnn_error(DNN_ENOMEM, "backward", "out of memory");
      return NULL;
    }
    dnn_gather_to(g, tmp);
    src = tmp;
  }
  float *dst = dnn_data(out);
  int nd = g->ndim;
  int64_t inner = nd ? g->shape[nd - 1] : 1, istride = nd ? ostride[nd - 1] : 0;
  int64_t idx[DNN_MAX_DIMS] = {0};
  for (int64_t r = 0; r < n / inner; r++) {
    int64_t off = 0;
    for (int d = 0; d < nd - 1; d++) off += idx[d] * ostride[d];
    float *o = dst + off;
    if (istride == 0) {
      float s = 0;
      for (int64_t i = 0; i < inner; i++) s += src[i];
      *o += s;
    } else {
      for (int64_t i = 0; i < inner; i++) o[i] += src[i];
    }
    src += inner;
    for (int d = nd - 2; d >= 0; d--) {
      if (++idx[d] < g->shape[d]) break;
      idx[d] = 0;
    }
  }
  free(tmp);
  return out;
}
