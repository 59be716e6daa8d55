/* The autodiff engine: recording nodes, and running backward over the nodes
 * reachable from the roots in a topological order (Kahn's), into leaves'
 * grad (backward) or into returned gradients (dnn_grad). */
#include <inttypes.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/ops.h"

static _Thread_local bool grad_disabled;
/* The scope text is shared: set once per layer call, held by every node
 * recorded under it (a node copying it would cost an allocation per op). */
typedef struct {
  atomic_int refcount;
  char text[];
} scope_text;

static _Thread_local scope_text *current_scope;

static const char *scope_retain(scope_text *s) {
  if (!s) return NULL;
  atomic_fetch_add(&s->refcount, 1);
  return s->text;
}

static void scope_release(const char *text) {
  if (!text) return;
  scope_text *s = (scope_text *)(text - offsetof(scope_text, text));
  if (atomic_fetch_sub(&s->refcount, 1) == 1) free(s);
}

bool dnn_grad_enabled(void) { return !grad_disabled; }
void dnn_set_grad_enabled(bool on) { grad_disabled = !on; }

void dnn_autograd_set_scope(const char *scope) {
  if (current_scope) scope_release(current_scope->text);
  current_scope = NULL;
  if (!scope) return;
  size_t len = strlen(scope);
  current_scope = malloc(sizeof *current_scope + len + 1);
  if (!current_scope) return; /* errors then name no layer: nothing else is lost */
  atomic_init(&current_scope->refcount, 1);
  memcpy(current_scope->text, scope, len + 1);
}

const char *dnn_autograd_scope(void) { return current_scope ? current_scope->text : NULL; }

bool dnn_needs_record(int n, dnn_tensor *const *inputs) {
  if (grad_disabled) return false;
  for (int i = 0; i < n; i++)
    if (inputs[i] && inputs[i]->requires_grad) return true;
  return false;
}

/* ---- nodes ---- */

/* One block: the node, its outputs, its inputs' versions, then its inputs
 * (widest alignment first, so every array is aligned on any ABI). */
static dnn_node *node_new(const char *op, dnn_backward_fn backward, int n_in, int n_out) {
  size_t size = sizeof(dnn_node) + (size_t)n_in * (sizeof(dnn_tensor *) + sizeof(uint64_t)) +
      (size_t)n_out * sizeof(dnn_node_output);
  dnn_node *node = calloc(1, size);
  if (!node) return NULL;
  node->outputs = (dnn_node_output *)(node + 1);
  node->input_versions = (uint64_t *)(node->outputs + n_out);
  node->inputs = (dnn_tensor **)(node->input_versions + n_in);
  node->scope = scope_retain(current_scope);
  node->op = op;
  node->backward = backward;
  node->n_inputs = n_in;
  node->n_outputs = n_out;
  return node;
}

dnn_node *dnn_record_outputs(int n_out, dnn_tensor *const *outs, const char *op, dnn_backward_fn backward, int n,
                             dnn_tensor *const *inputs) {
  if (!dnn_needs_record(n, inputs)) return NULL;
  dnn_node *node = node_new(op, backward, n, n_out);
  if (!node) {
    dnn_error(DNN_ENOMEM, op, "out of memory recording the graph");
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    node->inputs[i] = dnn_tensor_retain(inputs[i]);
    if (inputs[i]) node->input_versions[i] = inputs[i]->storage->version;
  }
  for (int k = 0; k < n_out; k++) {
    node->outputs[k].ndim = outs[k]->ndim;
    memcpy(node->outputs[k].shape, outs[k]->shape, sizeof outs[k]->shape);
    outs[k]->grad_fn = node;
    outs[k]->output_nr = k;
    outs[k]->requires_grad = true;
  }
  node->refcount = n_out;
  return node;
}

dnn_node *dnn_record(dnn_tensor *out, const char *op, dnn_backward_fn backward, int n, dnn_tensor *const *inputs) {
  return dnn_record_outputs(1, &out, op, backward, n, inputs);
}

dnn_status dnn_node_save(dnn_node *node, dnn_tensor *t) {
  if (!t) return dnn_errcode() != DNN_OK ? dnn_errcode() : dnn_error(DNN_ENOMEM, node->op, "out of memory");
  if (node->n_saved == node->saved_cap) {
    int cap = node->saved_cap ? 2 * node->saved_cap : 2;
    dnn_saved *s = realloc(node->saved, (size_t)cap * sizeof *s);
    if (!s) {
      dnn_tensor_release(t);
      return dnn_error(DNN_ENOMEM, node->op, "out of memory saving a tensor for backward");
    }
    node->saved = s;
    node->saved_cap = cap;
  }
  node->saved[node->n_saved++] = (dnn_saved){t, t->storage->version};
  return DNN_OK;
}

bool dnn_node_needs_grad(const dnn_node *node, int i) {
  return i < node->n_inputs && node->inputs[i] && node->inputs[i]->requires_grad;
}

/* Drops what the node holds for backward; the node itself lives on while its
 * outputs do (so a second backward can say the graph is gone). */
static void node_free_graph(dnn_node *node) {
  for (int i = 0; i < node->n_inputs; i++) dnn_tensor_release(node->inputs[i]);
  node->n_inputs = 0;
  for (int i = 0; i < node->n_saved; i++) dnn_tensor_release(node->saved[i].tensor);
  free(node->saved);
  node->saved = NULL;
  node->n_saved = node->saved_cap = 0;
  for (int k = 0; k < node->n_outputs; k++) {
    dnn_tensor_release(node->outputs[k].grad);
    node->outputs[k].grad = NULL;
  }
  if (node->ctx_free) node->ctx_free(node->ctx);
  node->ctx = NULL;
  node->ctx_free = NULL;
  node->released = true;
}

static void node_free(dnn_node *node) {
  node_free_graph(node);
  scope_release(node->scope);
  free(node);
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
  node_free(node);
  if (!outermost) return;
  while (dead.n > 0) node_free(dead.items[--dead.n]);
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

/* ---- writes in place ---- */

dnn_status dnn_check_inplace(const char *fn, const dnn_tensor *t) {
  if (!dnn_grad_enabled()) return DNN_OK;
  if (t->requires_grad && !t->grad_fn)
    return dnn_error(DNN_ESTATE, fn,
                     "cannot write in place into a leaf tensor that requires grad (use dnn.no_grad, or detach())");
  if (t->grad_fn && (t->grad_fn->flags & DNN_NODE_VIEW))
    return dnn_error(DNN_ESTATE, fn,
                     "cannot write in place into a view ('%s') of a tensor that requires grad; clone() it first",
                     t->grad_fn->op);
  return DNN_OK;
}

dnn_tensor *dnn_inplace_source(dnn_tensor *t) {
  dnn_tensor *a = dnn_alias(t);
  if (!a) return NULL;
  a->requires_grad = t->requires_grad;
  a->grad_fn = t->grad_fn;
  a->output_nr = t->output_nr;
  if (a->grad_fn) a->grad_fn->refcount++;
  return a;
}

dnn_status dnn_inplace_assign(const char *fn, dnn_tensor *t, dnn_tensor *result) {
  if (!dnn_same_shape(t, result)) {
    char a[96], b[96];
    return dnn_argerror(2, fn, "expected an operand that keeps the shape %s, got a result of shape %s",
                        dnn_shape_str(t, a, sizeof a), dnn_shape_str(result, b, sizeof b));
  }
  bool was = dnn_grad_enabled();
  dnn_set_grad_enabled(false); /* the write itself is not an op of the graph */
  dnn_status st = dnn_copy(t, result);
  dnn_set_grad_enabled(was);
  if (st != DNN_OK) return st;
  if (result->grad_fn) { /* t now stands for result: it takes over result's history */
    dnn_node *old = t->grad_fn;
    t->grad_fn = result->grad_fn;
    t->output_nr = result->output_nr;
    t->grad_fn->refcount++;
    t->requires_grad = true;
    dnn_node_release(old);
  }
  return DNN_OK;
}

/* ---- the engine ---- */

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

typedef struct engine {
  bool create_graph;
  bool retain_graph;
  bool into_leaves; /* accumulate into leaves' grad (backward), or only into targets (dnn_grad) */
  bool stop_at_targets; /* do not walk past the targets (a node's inputs, when it is decomposed) */
  int n_targets;
  dnn_tensor *const *targets;
  dnn_tensor **captured; /* the targets' gradients */
  unsigned mark; /* nodes of this pass have node->mark == mark */
  node_list order; /* every node of the pass, consumers first; each held */
  dnn_leaf_ready_fn leaf_ready; /* backward's hook: a leaf's grad is final */
  void *leaf_ready_ud;
} engine;

static _Thread_local engine *running; /* the innermost engine at work, for dnn_node_grad_buffer */

static dnn_status oom(void) { return dnn_error(DNN_ENOMEM, "backward", "out of memory"); }

/* Which target t is (a leaf by identity, a non-leaf by its node's output), or -1. */
static int target_index(const engine *e, const dnn_tensor *t) {
  for (int i = 0; i < e->n_targets; i++) {
    const dnn_tensor *x = e->targets[i];
    if (x->grad_fn ? (t->grad_fn == x->grad_fn && t->output_nr == x->output_nr) : t == x) return i;
  }
  return -1;
}

static bool in_pass(const engine *e, const dnn_node *node) { return node && node->mark == e->mark; }

/* Where the gradient of an input tensor goes: its node's accumulator, a
 * target's, or a leaf's grad (*leaf set); NULL when nobody wants it. */
static dnn_tensor **grad_slot(engine *e, dnn_tensor *in, bool *leaf) {
  *leaf = false;
  if (!in || !in->requires_grad) return NULL;
  if (in_pass(e, in->grad_fn)) return &in->grad_fn->outputs[in->output_nr].grad;
  int t = target_index(e, in);
  if (t >= 0) return &e->captured[t];
  if (!in->grad_fn && e->into_leaves) {
    *leaf = true;
    return &in->grad;
  }
  return NULL;
}

/* Every node reachable from the roots (not past a target when the pass stops
 * there), each held once, with pending = its number of consumers. */
static dnn_status collect(engine *e, int n, dnn_tensor *const *roots, node_list *all) {
  static _Thread_local unsigned epoch;
  e->mark = ++epoch;
  node_list stack = {0};
  dnn_status st = DNN_OK;
  for (int r = 0; r < n && st == DNN_OK; r++) {
    dnn_node *node = roots[r]->grad_fn;
    if (!node || node->mark == e->mark) continue;
    node->mark = e->mark;
    node->pending = 0;
    node->refcount++;
    if (!list_push(all, node) || !list_push(&stack, node)) st = oom();
  }
  while (st == DNN_OK && stack.n > 0) {
    dnn_node *node = stack.items[--stack.n];
    for (int i = 0; i < node->n_inputs && st == DNN_OK; i++) {
      dnn_tensor *in = node->inputs[i];
      if (!in || !in->grad_fn || (e->stop_at_targets && target_index(e, in) >= 0)) continue;
      dnn_node *child = in->grad_fn;
      if (child->mark != e->mark) {
        child->mark = e->mark;
        child->pending = 0;
        child->refcount++;
        if (!list_push(all, child) || !list_push(&stack, child)) st = oom();
      }
      child->pending++;
    }
  }
  free(stack.items);
  return st;
}

/* Orders the collected nodes so each comes after all its consumers (Kahn). */
static dnn_status topological_order(engine *e, node_list *all) {
  for (size_t i = 0; i < all->n; i++)
    if (all->items[i]->pending == 0 && !list_push(&e->order, all->items[i])) return oom();
  for (size_t next = 0; next < e->order.n; next++) {
    dnn_node *node = e->order.items[next];
    for (int i = 0; i < node->n_inputs; i++) {
      dnn_tensor *in = node->inputs[i];
      if (!in || !in_pass(e, in->grad_fn) || (e->stop_at_targets && target_index(e, in) >= 0)) continue;
      if (--in->grad_fn->pending == 0 && !list_push(&e->order, in->grad_fn)) return oom();
    }
  }
  return DNN_OK;
}

/* With targets, a node runs only when a target lies below it. */
static void mark_needed(engine *e) {
  for (size_t j = e->order.n; j-- > 0;) {
    dnn_node *node = e->order.items[j];
    node->needed = e->n_targets == 0;
    for (int i = 0; i < node->n_inputs && !node->needed; i++) {
      dnn_tensor *in = node->inputs[i];
      if (!in || !in->requires_grad) continue;
      node->needed = target_index(e, in) >= 0 || (in_pass(e, in->grad_fn) && in->grad_fn->needed);
    }
  }
}

static dnn_tensor *contiguous_copy(const dnn_tensor *t) {
  dnn_tensor *c = dnn_empty(t->ndim, t->shape);
  if (c) dnn_gather_to(t, dnn_data(c));
  return c;
}

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
  if (!tmp) return oom();
  dnn_gather_to(src, tmp);
  for (int64_t i = 0; i < n; i++) d[i] += tmp[i];
  free(tmp);
  return DNN_OK;
}

/* Makes *slot a contiguous buffer nobody else holds, so it can be added
 * into; a leaf's grad stays the same tensor (a Lua reference to w.grad sees
 * the new values, as PyTorch) unless it is strided. */
static dnn_status own_slot(dnn_tensor **slot, bool leaf) {
  if (leaf ? dnn_is_contiguous(*slot) : exclusively_owned(*slot)) return DNN_OK;
  dnn_tensor *c = contiguous_copy(*slot);
  if (!c) return oom();
  dnn_tensor_release(*slot);
  *slot = c;
  return DNN_OK;
}

/* *slot += g, taking over the caller's reference to g. With create_graph the
 * sum is a recorded op (the gradient has a graph of its own). */
static dnn_status accumulate(const engine *e, dnn_tensor **slot, bool leaf, dnn_tensor *g) {
  dnn_status st = DNN_OK;
  if (*slot && !dnn_same_shape(*slot, g)) { /* a leaf's grad set by hand to another shape */
    char a[96], b[96];
    st = dnn_error(DNN_ESTATE, "backward", "a leaf's grad has shape %s, its new gradient %s",
                   dnn_shape_str(*slot, a, sizeof a), dnn_shape_str(g, b, sizeof b));
  } else if (e->create_graph) {
    dnn_tensor *sum = *slot ? dnn_add(*slot, g) : dnn_tensor_retain(g);
    if (!sum) st = dnn_errcode();
    dnn_tensor_release(*slot);
    *slot = sum;
  } else if (!*slot) {
    *slot = exclusively_owned(g) ? dnn_tensor_retain(g) : contiguous_copy(g);
    if (!*slot) st = oom();
  } else {
    st = own_slot(slot, leaf);
    if (st == DNN_OK) st = add_into(*slot, g);
  }
  dnn_tensor_release(g);
  return st;
}

dnn_tensor *dnn_node_grad_buffer(dnn_node *node, int i) {
  engine *e = running;
  if (!e || e->create_graph || i >= node->n_inputs) return NULL;
  bool leaf;
  dnn_tensor **slot = grad_slot(e, node->inputs[i], &leaf);
  if (!slot) return NULL;
  const dnn_tensor *in = node->inputs[i];
  if (*slot && !dnn_same_shape(*slot, in)) return NULL; /* the usual path reports it */
  if (!*slot) {
    *slot = dnn_zeros(in->ndim, in->shape);
    if (!*slot) return NULL;
  } else if (own_slot(slot, leaf) != DNN_OK) {
    return NULL;
  }
  return *slot;
}

/* "'matmul' (in Dense 'dense_1', made at x.lua:3)" into buf. */
static const char *node_name(const dnn_node *node, char *buf, size_t size) {
  if (node->scope)
    snprintf(buf, size, "'%s' (in %s)", node->op, node->scope);
  else
    snprintf(buf, size, "'%s'", node->op);
  return buf;
}

/* Refuses a node whose saved tensors or read inputs were written in place
 * since it was recorded. */
static dnn_status check_versions(const dnn_node *node) {
  char name[256];
  for (int i = 0; i < node->n_saved; i++) {
    const dnn_saved *s = &node->saved[i];
    if (s->tensor->storage->version != s->version)
      return dnn_error(DNN_ESTATE, "backward",
                       "%s needs a tensor it saved for backward as it was (version %" PRIu64
                       "), but it was changed in place since (now version %" PRIu64
                       "); clone() it before changing it, or run the forward again",
                       node_name(node, name, sizeof name), s->version, s->tensor->storage->version);
  }
  if (node->flags & DNN_NODE_SHAPES_ONLY) return DNN_OK;
  for (int i = 0; i < node->n_inputs; i++) {
    const dnn_tensor *in = node->inputs[i];
    if (in && in->storage->version != node->input_versions[i])
      return dnn_error(DNN_ESTATE, "backward",
                       "%s needs its input %d as it was (version %" PRIu64
                       "), but it was changed in place since (now version %" PRIu64
                       "); clone() it before changing it, or run the forward again",
                       node_name(node, name, sizeof name), i + 1, node->input_versions[i], in->storage->version);
  }
  return DNN_OK;
}

static dnn_status run_pass(engine *e, int n, dnn_tensor *const *roots, dnn_tensor *const *seeds);

/* create_graph through a fused op: rebuild its forward from recorded ops and
 * differentiate that, with the gradients recorded too. */
static dnn_status decomposed_backward(dnn_node *node, dnn_tensor *const *gout, dnn_tensor **gin) {
  int n = node->n_inputs, n_out = node->n_outputs;
  dnn_tensor **outs = calloc((size_t)n_out, sizeof *outs);
  dnn_tensor **targets = calloc((size_t)(n ? n : 1), sizeof *targets);
  dnn_tensor **captured = calloc((size_t)(n ? n : 1), sizeof *captured);
  int *slot_of = calloc((size_t)(n ? n : 1), sizeof *slot_of);
  dnn_status st = outs && targets && captured && slot_of ? DNN_OK : oom();
  int n_targets = 0;
  for (int i = 0; st == DNN_OK && i < n; i++) {
    slot_of[i] = -1;
    if (!dnn_node_needs_grad(node, i)) continue;
    int j = 0;
    while (j < n_targets && targets[j] != node->inputs[i]) j++;
    if (j == n_targets)
      targets[n_targets++] = node->inputs[i];
    else
      continue; /* a repeated input gets the whole gradient once */
    slot_of[i] = j;
  }
  if (st == DNN_OK) st = node->decompose(node, node->inputs, outs);
  if (st == DNN_OK) {
    /* The graph is kept: the recorded gradients refer to the rebuilt forward's nodes. */
    engine e = {.create_graph = true,
                .retain_graph = true,
                .stop_at_targets = true,
                .n_targets = n_targets,
                .targets = targets,
                .captured = captured};
    st = run_pass(&e, n_out, outs, gout);
  }
  for (int i = 0; st == DNN_OK && i < n; i++) {
    if (slot_of[i] < 0) continue;
    gin[i] = captured[slot_of[i]];
    captured[slot_of[i]] = NULL;
  }
  for (int k = 0; outs && k < n_out; k++) dnn_tensor_release(outs[k]);
  for (int j = 0; captured && j < n_targets; j++) dnn_tensor_release(captured[j]);
  free(outs);
  free(targets);
  free(captured);
  free(slot_of);
  return st;
}

static dnn_status refuse_second_order(dnn_node *node, dnn_tensor *const *gout, dnn_tensor **gin) {
  (void)gout;
  (void)gin;
  return dnn_error(DNN_ESTATE, "backward",
                   "'%s' has no second derivative: create_graph cannot differentiate its gradient again",
                   (const char *)node->ctx);
}

/* The gradient of a gradient that does not depend on its op's inputs (relu's
 * is a mask times g): zeros, as PyTorch gives. */
static dnn_status zero_second_order(dnn_node *node, dnn_tensor *const *gout, dnn_tensor **gin) {
  (void)gout;
  for (int i = 0; i < node->n_inputs; i++)
    if (dnn_node_needs_grad(node, i) && (gin[i] = dnn_zeros_like(node->inputs[i])) == NULL) return oom();
  return DNN_OK;
}

/* Under create_graph, hangs each gradient that records no graph of its own
 * (every one when all) on a node over the op's inputs and output gradients,
 * so that differentiating it again runs backward: refuse_second_order for a
 * gradient computed without a graph (an error naming the op, never a silent
 * zero), zero_second_order for one that is truly constant. */
static dnn_status hang_gradients(dnn_node *node, dnn_tensor *const *gout, dnn_tensor **gin, bool all, const char *op,
                                 dnn_backward_fn backward) {
  int n = node->n_inputs + node->n_outputs;
  dnn_tensor **deps = malloc((size_t)n * sizeof *deps);
  if (!deps) return oom();
  for (int i = 0; i < node->n_inputs; i++) deps[i] = node->inputs[i];
  for (int k = 0; k < node->n_outputs; k++) deps[node->n_inputs + k] = gout[k];
  dnn_status st = DNN_OK;
  for (int i = 0; st == DNN_OK && i < node->n_inputs; i++) {
    if (!gin[i] || (!all && gin[i]->requires_grad) || !dnn_needs_record(n, deps)) continue;
    dnn_tensor *g = dnn_alias(gin[i]); /* never gin[i] itself: it may be a tensor of the caller's */
    dnn_node *hung = g ? dnn_record(g, op, backward, n, deps) : NULL;
    if (!hung) {
      dnn_tensor_release(g);
      st = dnn_errcode() != DNN_OK ? dnn_errcode() : oom();
      break;
    }
    hung->ctx = (void *)node->op; /* a static string: nothing to free */
    hung->flags |= DNN_NODE_SHAPES_ONLY | (backward == zero_second_order ? DNN_NODE_DIFFERENTIABLE : 0);
    dnn_tensor_release(gin[i]);
    gin[i] = g;
  }
  free(deps);
  return st;
}

/* Prefixes the message of a failed backward with the node's scope. */
static dnn_status in_scope(const dnn_node *node, dnn_status st) {
  if (st == DNN_OK || !node->scope || strstr(dnn_errmsg(), node->scope)) return st;
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", dnn_errmsg());
  return dnn_error(st, "backward", "in %s: %s", node->scope, msg);
}

static dnn_status compute_input_grads(engine *e, dnn_node *node, dnn_tensor *const *gout, dnn_tensor **gin) {
  if (!e->create_graph) return node->backward(node, gout, gin);
  if (node->decompose && !(node->flags & DNN_NODE_DIFFERENTIABLE)) return decomposed_backward(node, gout, gin);
  bool recorded = node->flags & DNN_NODE_DIFFERENTIABLE;
  dnn_set_grad_enabled(recorded);
  dnn_status st = node->backward(node, gout, gin);
  dnn_set_grad_enabled(true);
  if (st != DNN_OK) return st;
  return recorded ? hang_gradients(node, gout, gin, false, "constant_gradient", zero_second_order)
                  : hang_gradients(node, gout, gin, true, "first_order_gradient", refuse_second_order);
}

static dnn_status check_grad_shape(const dnn_node *node, int i, const dnn_tensor *g) {
  if (dnn_same_shape(g, node->inputs[i])) return DNN_OK;
  char a[96], b[96];
  return dnn_error(DNN_ESTATE, "backward", "'%s' gave a gradient of shape %s for input %d of shape %s", node->op,
                   dnn_shape_str(g, a, sizeof a), i + 1, dnn_shape_str(node->inputs[i], b, sizeof b));
}

/* Runs one node: its outputs' gradients in, its inputs' gradients out to
 * where they go. */
static dnn_status run_node(engine *e, dnn_node *node) {
  if (node->released)
    return dnn_error(DNN_ESTATE, "backward",
                     "the graph through '%s' was already freed by an earlier backward(); run the forward again, or "
                     "pass {retain_graph = true} to the first backward",
                     node->op);
  dnn_status st = check_versions(node);
  if (st != DNN_OK) return st;
  int n = node->n_inputs, n_out = node->n_outputs;
  dnn_tensor *small[16];
  dnn_tensor **buf = n + n_out <= 16 ? small : malloc((size_t)(n + n_out) * sizeof *buf);
  if (!buf) return oom();
  memset(buf, 0, (size_t)(n + n_out) * sizeof *buf);
  dnn_tensor **gout = buf, **gin = buf + n_out;
  for (int k = 0; k < n_out && st == DNN_OK; k++) {
    dnn_node_output *o = &node->outputs[k];
    gout[k] = o->grad ? dnn_contiguous(o->grad) : dnn_zeros(o->ndim, o->shape);
    if (!gout[k]) st = dnn_errcode();
    dnn_tensor_release(o->grad);
    o->grad = NULL;
  }
  if (st == DNN_OK) st = in_scope(node, compute_input_grads(e, node, gout, gin));
  for (int i = 0; i < n; i++) {
    if (st != DNN_OK || !gin[i]) {
      dnn_tensor_release(gin[i]);
      continue;
    }
    st = check_grad_shape(node, i, gin[i]);
    bool leaf;
    dnn_tensor **slot = st == DNN_OK ? grad_slot(e, node->inputs[i], &leaf) : NULL;
    if (slot)
      st = accumulate(e, slot, leaf, gin[i]);
    else
      dnn_tensor_release(gin[i]);
  }
  for (int k = 0; k < n_out; k++) dnn_tensor_release(gout[k]);
  if (buf != small) free(buf);
  return st;
}

static bool has_grad(const dnn_node *node) {
  for (int k = 0; k < node->n_outputs; k++)
    if (node->outputs[k].grad) return true;
  return false;
}

/* Hands a target's gradient over once its node has all of it. */
static void capture_targets(engine *e, dnn_node *node) {
  for (int t = 0; t < e->n_targets; t++) {
    const dnn_tensor *x = e->targets[t];
    if (x->grad_fn == node && !e->captured[t] && node->outputs[x->output_nr].grad)
      e->captured[t] = dnn_tensor_retain(node->outputs[x->output_nr].grad);
  }
}

static dnn_status seed_roots(engine *e, int n, dnn_tensor *const *roots, dnn_tensor *const *seeds) {
  dnn_status st = DNN_OK;
  for (int r = 0; r < n && st == DNN_OK; r++) {
    dnn_tensor *seed = seeds && seeds[r] ? dnn_tensor_retain(seeds[r]) : dnn_full(roots[r]->ndim, roots[r]->shape, 1);
    if (!seed) return dnn_errcode();
    bool leaf;
    dnn_tensor **slot = grad_slot(e, roots[r], &leaf);
    if (slot)
      st = accumulate(e, slot, leaf, seed);
    else
      dnn_tensor_release(seed);
  }
  return st;
}

/* ---- when a leaf's gradient is final (leaf_ready) ---- */

/* The leaves of a pass, each with the number of contributions still to come
 * (its uses as an input of a node not yet run); open addressing on the
 * tensor's address. */
typedef struct {
  dnn_tensor *leaf;
  size_t pending;
} leaf_count;

typedef struct {
  leaf_count *slots;
  size_t mask; /* capacity - 1, a power of two minus one */
} leaf_table;

static bool is_leaf_slot(const engine *e, const dnn_tensor *in) {
  return in && in->requires_grad && !in->grad_fn && e->into_leaves;
}

static leaf_count *leaf_find(leaf_table *t, dnn_tensor *leaf) {
  size_t h = ((size_t)(uintptr_t)leaf >> 4) * 0x9E3779B1u;
  for (size_t i = h & t->mask;; i = (i + 1) & t->mask)
    if (t->slots[i].leaf == leaf || !t->slots[i].leaf) return &t->slots[i];
}

/* Counts each leaf's uses by the nodes of the pass; the roots that are leaves
 * come in with none. */
static dnn_status leaf_table_build(const engine *e, int n, dnn_tensor *const *roots, leaf_table *t) {
  size_t uses = (size_t)n;
  for (size_t j = 0; j < e->order.n; j++) uses += (size_t)e->order.items[j]->n_inputs;
  size_t cap = 16;
  while (cap < 2 * uses) cap *= 2;
  t->slots = calloc(cap, sizeof *t->slots);
  if (!t->slots) return oom();
  t->mask = cap - 1;
  for (int r = 0; r < n; r++)
    if (is_leaf_slot(e, roots[r])) leaf_find(t, roots[r])->leaf = roots[r];
  for (size_t j = 0; j < e->order.n; j++) {
    const dnn_node *node = e->order.items[j];
    for (int i = 0; i < node->n_inputs; i++) {
      if (!is_leaf_slot(e, node->inputs[i])) continue;
      leaf_count *c = leaf_find(t, node->inputs[i]);
      c->leaf = node->inputs[i];
      c->pending++;
    }
  }
  return DNN_OK;
}

/* The roots that are leaves no node adds to: final once seeded. */
static dnn_status leaf_ready_roots(engine *e, int n, dnn_tensor *const *roots, leaf_table *t) {
  dnn_status st = DNN_OK;
  for (int r = 0; r < n && st == DNN_OK; r++) {
    if (!is_leaf_slot(e, roots[r])) continue;
    leaf_count *c = leaf_find(t, roots[r]);
    bool repeated = false; /* a root given twice is reported once */
    for (int q = 0; q < r; q++) repeated = repeated || roots[q] == roots[r];
    if (c->pending == 0 && !repeated) st = e->leaf_ready(roots[r], e->leaf_ready_ud);
  }
  return st;
}

/* After node ran (or was passed over): its leaves have one contribution
 * less each; those with none left are final. */
static dnn_status leaf_ready_after(engine *e, const dnn_node *node, leaf_table *t) {
  dnn_status st = DNN_OK;
  for (int i = 0; i < node->n_inputs && st == DNN_OK; i++) {
    if (!is_leaf_slot(e, node->inputs[i])) continue;
    leaf_count *c = leaf_find(t, node->inputs[i]);
    if (--c->pending == 0) st = e->leaf_ready(node->inputs[i], e->leaf_ready_ud);
  }
  return st;
}

static void end_pass(engine *e, node_list *all) {
  for (size_t i = 0; i < all->n; i++) {
    dnn_node *node = all->items[i];
    if (e->retain_graph) {
      for (int k = 0; k < node->n_outputs; k++) {
        dnn_tensor_release(node->outputs[k].grad);
        node->outputs[k].grad = NULL;
      }
    } else {
      node_free_graph(node);
    }
  }
  for (size_t i = 0; i < all->n; i++) dnn_node_release(all->items[i]);
  free(all->items);
  free(e->order.items);
}

/* One backward pass from the roots; grad mode on while it runs only with
 * create_graph. */
static dnn_status run_pass(engine *e, int n, dnn_tensor *const *roots, dnn_tensor *const *seeds) {
  bool was_enabled = dnn_grad_enabled();
  engine *outer = running;
  running = e;
  dnn_set_grad_enabled(e->create_graph);
  node_list all = {0};
  leaf_table leaves = {0};
  dnn_status st = collect(e, n, roots, &all);
  if (st == DNN_OK) st = topological_order(e, &all);
  if (st == DNN_OK && e->leaf_ready) st = leaf_table_build(e, n, roots, &leaves);
  if (st == DNN_OK) {
    mark_needed(e);
    st = seed_roots(e, n, roots, seeds);
  }
  if (st == DNN_OK && e->leaf_ready) st = leaf_ready_roots(e, n, roots, &leaves);
  for (size_t i = 0; st == DNN_OK && i < e->order.n; i++) {
    dnn_node *node = e->order.items[i];
    if (e->n_targets && !e->stop_at_targets) capture_targets(e, node);
    if (node->needed && has_grad(node)) st = run_node(e, node);
    if (st == DNN_OK && e->leaf_ready) st = leaf_ready_after(e, node, &leaves);
  }
  free(leaves.slots);
  end_pass(e, &all);
  dnn_set_grad_enabled(was_enabled);
  running = outer;
  return st;
}

/* Roots must require grad, and a seed must match its root (one-element roots
 * may go without). */
static dnn_status check_roots(const char *fn, int n, dnn_tensor *const *roots, dnn_tensor *const *seeds) {
  for (int r = 0; r < n; r++) {
    char a[96], b[96];
    if (!roots[r]->requires_grad)
      return dnn_error(DNN_ESTATE, fn, "the tensor does not require grad (no input of it has requires_grad)");
    if (seeds && seeds[r] && !dnn_same_shape(seeds[r], roots[r]))
      return dnn_argerror(2, fn, "expected a gradient of shape %s, got %s", dnn_shape_str(roots[r], a, sizeof a),
                          dnn_shape_str(seeds[r], b, sizeof b));
    if ((!seeds || !seeds[r]) && dnn_numel(roots[r]) != 1)
      return dnn_error(DNN_EARG, fn,
                       "a gradient is needed for a non-scalar output of shape %s (pass one, or reduce with sum/mean)",
                       dnn_shape_str(roots[r], a, sizeof a));
  }
  return DNN_OK;
}

dnn_status dnn_backward_ex(int n, dnn_tensor *const *roots, dnn_tensor *const *grads, const dnn_backward_opts *opts) {
  dnn_status st = check_roots("backward", n, roots, grads);
  if (st != DNN_OK) return st;
  engine e = {.into_leaves = true};
  if (opts) {
    e.create_graph = opts->create_graph;
    e.retain_graph = opts->retain_graph || opts->create_graph;
    e.leaf_ready = opts->leaf_ready;
    e.leaf_ready_ud = opts->leaf_ready_ud;
  }
  return run_pass(&e, n, roots, grads);
}

dnn_status dnn_backward(dnn_tensor *root, dnn_tensor *grad) {
  dnn_tensor *seeds[1] = {grad};
  return dnn_backward_ex(1, &root, seeds, NULL);
}

dnn_status dnn_grad(int n_out, dnn_tensor *const *outputs, dnn_tensor *const *grad_outputs, int n_in,
                    dnn_tensor *const *inputs, dnn_tensor **grads, const dnn_backward_opts *opts) {
  dnn_status st = check_roots("grad", n_out, outputs, grad_outputs);
  for (int i = 0; st == DNN_OK && i < n_in; i++)
    if (!inputs[i]->requires_grad)
      st = dnn_argerror(2, "grad", "expected inputs that require grad, got input %d that does not", i + 1);
  if (st == DNN_OK && opts && opts->leaf_ready)
    st = dnn_error(DNN_EARG, "grad", "leaf_ready is a hook of backward (grad touches no leaf's grad)");
  if (st != DNN_OK) return st;
  for (int i = 0; i < n_in; i++) grads[i] = NULL;
  engine e = {.n_targets = n_in, .targets = inputs, .captured = grads};
  if (opts) {
    e.create_graph = opts->create_graph;
    e.retain_graph = opts->retain_graph || opts->create_graph;
  }
  st = run_pass(&e, n_out, outputs, grad_outputs);
  for (int i = 0; st == DNN_OK && i < n_in; i++) /* an input named twice gets its gradient twice */
    for (int j = 0; j < i && !grads[i]; j++)
      if (target_index(&e, inputs[i]) == j) grads[i] = dnn_tensor_retain(grads[j]);
  if (st != DNN_OK)
    for (int i = 0; i < n_in; i++) {
      dnn_tensor_release(grads[i]);
      grads[i] = NULL;
    }
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

/* The gradient of a sum over broadcast dims is the broadcast of the gradient. */
static dnn_status sum_to_shape_backward(dnn_node *node, dnn_tensor *const *gout, dnn_tensor **gin) {
  const dnn_tensor *g = node->inputs[0];
  gin[0] = dnn_expand(gout[0], g->ndim, g->shape);
  return gin[0] ? DNN_OK : dnn_errcode();
}

/* out += g summed onto out's shape: each of g's dims maps onto out's
 * (right-aligned); a broadcast dim of out gets stride 0. */
static void sum_onto(const float *src, const dnn_tensor *g, dnn_tensor *out) {
  int nd = g->ndim, lead = g->ndim - out->ndim;
  int64_t ostride[DNN_MAX_DIMS] = {0};
  for (int d = 0; d < out->ndim; d++) ostride[d + lead] = out->shape[d] == 1 ? 0 : out->stride[d];
  int64_t n = dnn_numel(g);
  float *dst = dnn_data(out);
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
  if (!out || dnn_numel(g) == 0) return out;
  float *tmp = NULL;
  if (!dnn_is_contiguous(g)) {
    tmp = malloc((size_t)dnn_numel(g) * sizeof(float));
    if (!tmp) {
      dnn_tensor_release(out);
      oom();
      return NULL;
    }
    dnn_gather_to(g, tmp);
  }
  sum_onto(tmp ? tmp : dnn_data(g), g, out);
  free(tmp);
  dnn_node *node = dnn_record(out, "sum_to_shape", sum_to_shape_backward, 1, &g);
  if (node)
    node->flags |= DNN_NODE_DIFFERENTIABLE | DNN_NODE_SHAPES_ONLY;
  else if (dnn_needs_record(1, &g)) {
    dnn_tensor_release(out);
    return NULL;
  }
  return out;
}
