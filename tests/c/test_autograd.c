/* The autodiff engine: recording, backward order, accumulation, freed graphs,
 * errors, grad mode, detach, shared inputs, diamonds, deep graphs. Uses only
 * views, matmul and cat, so that it tests the engine and not other kernels. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"
#include "tensor_check.h"

static dnn_tensor *vec(int64_t n, const float *v) { return dnn_from_data(v, 1, &n); }

static dnn_tensor *leaf(int64_t n, const float *v) {
  dnn_tensor *t = vec(n, v);
  dnn_set_requires_grad(t, true);
  return t;
}

static void clear_grad(dnn_tensor *t) {
  dnn_tensor_release(t->grad);
  t->grad = NULL;
}

/* ---- recording ---- */

static void test_recording(void) {
  dnn_tensor *x = leaf(3, (float[]){1, 2, 3}), *c = vec(3, (float[]){4, 5, 6});
  CHECK(x->requires_grad && x->grad_fn == NULL && x->grad == NULL);
  dnn_tensor *y = dnn_matmul(x, c);
  CHECK(y->requires_grad && y->grad_fn && strcmp(y->grad_fn->op, "matmul") == 0);
  CHECK(y->grad_fn->n_inputs == 2 && y->grad_fn->inputs[0] == x && y->grad_fn->inputs[1] == c);
  CHECK(dnn_node_needs_grad(y->grad_fn, 0) && !dnn_node_needs_grad(y->grad_fn, 1) &&
        !dnn_node_needs_grad(y->grad_fn, 2));
  dnn_tensor *k = dnn_matmul(c, c); /* no input needs grad: nothing recorded */
  CHECK(!k->requires_grad && k->grad_fn == NULL);
  /* only leaves change requires_grad */
  CHECK(dnn_set_requires_grad(y, false) == DNN_ESTATE && errmsg_has("requires_grad", "matmul"));
  CHECK(dnn_set_requires_grad(c, true) == DNN_OK && c->requires_grad);
  CHECK(dnn_set_requires_grad(c, false) == DNN_OK && !c->requires_grad);
  CHECK(dnn_needs_record(2, (dnn_tensor *[]){c, x}) && !dnn_needs_record(2, (dnn_tensor *[]){c, NULL}));
  RELEASE(x, c, y, k);
}

static void test_simple_backward(void) {
  dnn_tensor *x = leaf(3, (float[]){1, 2, 3}), *c = vec(3, (float[]){4, 5, 6});
  dnn_tensor *y = dnn_matmul(x, c); /* 0-d: backward needs no gradient */
  CHECK(dnn_backward(y, NULL) == DNN_OK);
  CHECK(values_are(x->grad, (float[]){4, 5, 6}, 3));
  CHECK(c->grad == NULL);
  CHECK(x->grad && x->grad->grad_fn == NULL && !x->grad->requires_grad); /* backward records nothing */
  CHECK(y->grad == NULL); /* non-leaves keep no grad */
  /* a leaf as root */
  dnn_tensor *s = dnn_scalar(2);
  dnn_set_requires_grad(s, true);
  CHECK(dnn_backward(s, NULL) == DNN_OK && s->grad && dnn_data(s->grad)[0] == 1);
  RELEASE(x, c, y, s);
}

/* ---- accumulation and freed graphs ---- */

static void test_accumulation(void) {
  dnn_tensor *x = leaf(2, (float[]){1, 2}), *c = vec(2, (float[]){3, 4});
  dnn_tensor *y = dnn_matmul(x, c);
  CHECK(dnn_backward(y, NULL) == DNN_OK);
  dnn_tensor *held = dnn_tensor_retain(x->grad); /* as a Lua reference to x.grad */
  CHECK(values_are(held, (float[]){3, 4}, 2));
  /* a second backward on the freed graph: an error, nothing accumulated */
  CHECK(dnn_backward(y, NULL) == DNN_ESTATE);
  CHECK(errmsg_has("backward", "already freed", "matmul"));
  CHECK(values_are(x->grad, (float[]){3, 4}, 2));
  /* a fresh graph accumulates into the same grad, in place */
  dnn_tensor *y2 = dnn_matmul(c, x);
  CHECK(dnn_backward(y2, NULL) == DNN_OK);
  CHECK(x->grad == held && values_are(held, (float[]){6, 8}, 2));
  /* a graph built on a freed part fails too */
  dnn_tensor *xx = dnn_unsqueeze(x, 0);
  dnn_tensor *a = dnn_squeeze(xx, 0);
  dnn_tensor *b1 = dnn_matmul(a, c);
  CHECK(dnn_backward(b1, NULL) == DNN_OK);
  dnn_tensor *b2 = dnn_matmul(a, c); /* a's node was freed by the first backward */
  CHECK(dnn_backward(b2, NULL) == DNN_ESTATE && errmsg_has("already freed"));
  RELEASE(x, c, y, held, y2, xx, a, b1, b2);

  /* grads set by hand: a strided one is summed into, a wrong-shaped one refused */
  dnn_tensor *m = leaf(4, (float[]){1, 2, 3, 4});
  dnn_tensor *base = dnn_from_data((float[]){10, 0, 20, 0, 30, 0, 40, 0}, 2, (int64_t[]){4, 2});
  m->grad = dnn_select(base, 1, 0); /* {10, 20, 30, 40} with stride 2 */
  dnn_tensor *mv = dnn_view(m, 2, (int64_t[]){2, 2});
  dnn_tensor *ones = dnn_full(2, (int64_t[]){2, 2}, 1);
  CHECK(dnn_backward(mv, ones) == DNN_OK && values_are(m->grad, (float[]){11, 21, 31, 41}, 4));
  CHECK(values_are(base, (float[]){10, 0, 20, 0, 30, 0, 40, 0}, 8));
  dnn_tensor_release(m->grad);
  m->grad = dnn_zeros(1, (int64_t[]){3});
  dnn_tensor *mv2 = dnn_view(m, 2, (int64_t[]){2, 2});
  CHECK(dnn_backward(mv2, ones) == DNN_ESTATE && errmsg_has("backward", "(3)"));
  RELEASE(m, base, mv, ones, mv2);
}

static void test_errors(void) {
  dnn_tensor *c = vec(2, (float[]){1, 2});
  CHECK(dnn_backward(c, NULL) == DNN_ESTATE && errmsg_has("backward", "does not require grad"));
  dnn_tensor *x = leaf(2, (float[]){1, 2});
  dnn_tensor *m = dnn_unsqueeze(x, 1); /* (2, 1): not a scalar */
  CHECK(dnn_backward(m, NULL) == DNN_EARG && errmsg_has("backward", "(2, 1)"));
  dnn_tensor *wrong = dnn_zeros(1, (int64_t[]){2});
  CHECK(dnn_backward(m, wrong) == DNN_EARG && errmsg_has("#2 to 'backward'", "(2, 1)", "(2)"));
  CHECK(x->grad == NULL);
  /* after the errors the graph is intact: a proper gradient works */
  dnn_tensor *g = dnn_from_data((float[]){5, 6}, 2, (int64_t[]){2, 1});
  CHECK(dnn_backward(m, g) == DNN_OK && values_are(x->grad, (float[]){5, 6}, 2));
  /* a one-element non-scalar root needs no gradient */
  dnn_tensor *one = leaf(1, (float[]){3});
  dnn_tensor *u = dnn_unsqueeze(one, 0);
  CHECK(dnn_backward(u, NULL) == DNN_OK && values_are(one->grad, (float[]){1}, 1));
  /* a non-contiguous, recorded gradient is taken by value */
  dnn_tensor *z = leaf(4, (float[]){0, 0, 0, 0});
  dnn_tensor *zm = dnn_view(z, 2, (int64_t[]){2, 2});
  dnn_tensor *gb = dnn_from_data((float[]){1, 2, 3, 4}, 2, (int64_t[]){2, 2});
  dnn_tensor *gt = dnn_transpose(gb, 0, 1);
  CHECK(dnn_backward(zm, gt) == DNN_OK && values_are(z->grad, (float[]){1, 3, 2, 4}, 4));
  RELEASE(c, x, m, wrong, g, one, u, z, zm, gb, gt);
}

/* ---- grad mode and detach ---- */

static void test_no_grad_detach(void) {
  dnn_tensor *x = leaf(2, (float[]){1, 2}), *c = vec(2, (float[]){3, 4});
  CHECK(dnn_grad_enabled());
  dnn_set_grad_enabled(false);
  CHECK(!dnn_grad_enabled());
  dnn_tensor *y = dnn_matmul(x, c);
  dnn_tensor *v = dnn_unsqueeze(x, 0);
  dnn_tensor *k = dnn_cat(2, (dnn_tensor *[]){x, c}, 0);
  CHECK(!y->requires_grad && !y->grad_fn && !v->requires_grad && !v->grad_fn && !k->grad_fn);
  CHECK(!dnn_needs_record(1, &x));
  dnn_set_grad_enabled(true);
  CHECK(dnn_backward(y, NULL) == DNN_ESTATE); /* nothing to backward through */

  dnn_tensor *h = dnn_unsqueeze(x, 0);
  dnn_tensor *d = dnn_detach(h);
  CHECK(d && !d->requires_grad && d->grad_fn == NULL && d->storage == x->storage);
  dnn_tensor *dz = dnn_matmul(d, c);
  CHECK(!dz->requires_grad);
  /* mixing a detached copy with the live tensor: only the live path gets grad */
  dnn_tensor *dv = dnn_squeeze(d, 0);
  dnn_tensor *mix = dnn_matmul(dv, x); /* x . x, one side detached: grad = x, not 2x */
  CHECK(dnn_backward(mix, NULL) == DNN_OK && values_are(x->grad, (float[]){1, 2}, 2));
  RELEASE(x, c, y, v, k, h, d, dz, dv, mix);
}

/* ---- graph shapes ---- */

static void test_shared_input(void) {
  /* the same tensor twice: x . x has gradient 2x */
  dnn_tensor *x = leaf(3, (float[]){1, -2, 3});
  dnn_tensor *y = dnn_matmul(x, x);
  CHECK(dnn_backward(y, NULL) == DNN_OK && values_are(x->grad, (float[]){2, -4, 6}, 3));
  clear_grad(x);
  /* twice through cat, with a gradient per slot */
  dnn_tensor *c = dnn_cat(3, (dnn_tensor *[]){x, x, x}, 0);
  dnn_tensor *g = dnn_arange(0, 9, 1);
  CHECK(dnn_backward(c, g) == DNN_OK && values_are(x->grad, (float[]){0 + 3 + 6, 1 + 4 + 7, 2 + 5 + 8}, 3));
  /* a matrix times itself */
  clear_grad(x);
  dnn_tensor *m = leaf(4, (float[]){1, 2, 3, 4});
  dnn_tensor *mv = dnn_view(m, 2, (int64_t[]){2, 2});
  dnn_tensor *mm = dnn_matmul(mv, mv);
  dnn_tensor *ones = dnn_full(2, (int64_t[]){2, 2}, 1);
  CHECK(dnn_backward(mm, ones) == DNN_OK);
  /* d/dM sum(M M) = 1 M^T + M^T 1 */
  CHECK(values_are(m->grad, (float[]){3 + 4, 7 + 4, 3 + 6, 7 + 6}, 4));
  RELEASE(x, y, c, g, m, mv, mm, ones);
}

static void test_diamond(void) {
  /* x -> y (clone) -> a, b (two slices of y) -> a . b */
  dnn_tensor *x = leaf(3, (float[]){1, 2, 3});
  dnn_tensor *y = dnn_clone(x);
  dnn_tensor *a = dnn_narrow(y, 0, 0, 2), *b = dnn_narrow(y, 0, 1, 2);
  dnn_tensor *out = dnn_matmul(a, b); /* y0 y1 + y1 y2 */
  CHECK(dnn_backward(out, NULL) == DNN_OK);
  CHECK(values_are(x->grad, (float[]){2, 1 + 3, 2}, 3));
  RELEASE(x, y, a, b, out);

  /* a deeper diamond: w feeds two matmuls whose results join in cat */
  dnn_tensor *w = leaf(4, (float[]){1, 2, 3, 4});
  dnn_tensor *wm = dnn_view(w, 2, (int64_t[]){2, 2});
  dnn_tensor *p = dnn_from_data((float[]){1, 0, 0, 1, 1, 1}, 2, (int64_t[]){3, 2});
  dnn_tensor *left = dnn_matmul(p, wm); /* (3,2) */
  dnn_tensor *wt = dnn_transpose(wm, 0, 1);
  dnn_tensor *right = dnn_matmul(p, wt); /* (3,2) */
  dnn_tensor *both = dnn_cat(2, (dnn_tensor *[]){left, right}, 1);
  dnn_tensor *ones = dnn_full(2, (int64_t[]){3, 4}, 1);
  CHECK(dnn_backward(both, ones) == DNN_OK);
  /* d/dW sum(P W) = P^T 1 = column sums of P per row of W: [2,2;2,2]; the
   * transposed path adds the same transposed: total 4 everywhere */
  CHECK(values_are(w->grad, (float[]){4, 4, 4, 4}, 4));
  RELEASE(w, wm, p, left, wt, right, both, ones);
}

/* Nodes reused inside one graph accumulate their incoming gradients before
 * running (each runs once). */
static void test_shared_intermediate(void) {
  dnn_tensor *x = leaf(2, (float[]){1, 2});
  dnn_tensor *y = dnn_clone(x);
  dnn_tensor *z1 = dnn_clone(y), *z2 = dnn_clone(y);
  dnn_tensor *c = dnn_cat(3, (dnn_tensor *[]){z1, z2, y}, 0);
  dnn_tensor *g = dnn_from_data((float[]){1, 2, 10, 20, 100, 200}, 1, (int64_t[]){6});
  CHECK(dnn_backward(c, g) == DNN_OK);
  CHECK(values_are(x->grad, (float[]){111, 222}, 2));
  CHECK(values_are(g, (float[]){1, 2, 10, 20, 100, 200}, 6)); /* the caller's gradient is untouched */
  RELEASE(x, y, z1, z2, c, g);
}

static dnn_tensor *composite_loss(dnn_tensor *const *in, void *ctx) {
  (void)ctx;
  /* tanh-free but nonlinear: (x W) . (x W) with views in between */
  dnn_tensor *wm = dnn_view(in[1], 2, (int64_t[]){3, 2});
  dnn_tensor *h = dnn_matmul(in[0], wm); /* (2) */
  dnn_tensor *hc = dnn_cat(2, (dnn_tensor *[]){h, h}, 0);
  dnn_tensor *hn = dnn_narrow(hc, 0, 1, 2);
  dnn_tensor *s = dnn_matmul(hn, h);
  RELEASE(wm, h, hc, hn);
  return s;
}

static void test_composite_gradcheck(void) {
  dnn_tensor *x = dnn_randn(1, (int64_t[]){3}), *w = dnn_randn(1, (int64_t[]){6});
  gradcheck("composite", composite_loss, 2, (dnn_tensor *[]){x, w}, NULL);
  RELEASE(x, w);
}

/* Long graphs: backward is iterative, and so is freeing an unused graph. */
static void test_deep_graphs(void) {
  dnn_tensor *x = leaf(2, (float[]){1, 2});
  dnn_tensor *y = dnn_tensor_retain(x);
  for (int i = 0; i < 50000; i++) {
    dnn_tensor *u = dnn_unsqueeze(y, 0);
    dnn_tensor *s = dnn_squeeze(u, 0);
    RELEASE(u, y);
    y = s;
  }
  dnn_tensor *g = dnn_from_data((float[]){3, 4}, 1, (int64_t[]){2});
  CHECK(dnn_backward(y, g) == DNN_OK && values_are(x->grad, (float[]){3, 4}, 2));
  dnn_tensor_release(y);
  /* never backwarded: released by dropping the last tensor */
  y = dnn_tensor_retain(x);
  for (int i = 0; i < 300000; i++) {
    dnn_tensor *u = dnn_unsqueeze(y, 0);
    RELEASE(y);
    y = u;
    dnn_tensor *s = dnn_squeeze(y, 0);
    RELEASE(y);
    y = s;
  }
  dnn_tensor_release(y);
  CHECK(1); /* reaching here without a stack overflow is the check */
  RELEASE(x, g);
}

/* The graph's memory goes when the graph does. */
static void test_graph_memory(void) {
  int64_t before = dnn_storage_bytes_live();
  dnn_tensor *x = dnn_randn(2, (int64_t[]){64, 64});
  dnn_set_requires_grad(x, true);
  dnn_tensor *y = dnn_matmul(x, x);
  dnn_tensor *z = dnn_matmul(y, x);
  dnn_tensor_release(y); /* kept alive by z's graph */
  dnn_tensor *g = dnn_full(2, (int64_t[]){64, 64}, 1);
  const int64_t one = 64 * 64 * 4;
  CHECK(dnn_storage_bytes_live() == before + 4 * one); /* x, y, z, g */
  CHECK(dnn_backward(z, g) == DNN_OK);
  CHECK(dnn_storage_bytes_live() == before + 4 * one); /* y went with the graph, x->grad came */
  RELEASE(x, z, g);
  CHECK(dnn_storage_bytes_live() == before);
}

static void test_sum_to_shape(void) {
  float v[6] = {1, 2, 3, 4, 5, 6};
  dnn_tensor *g = dnn_from_data(v, 2, (int64_t[]){2, 3});
  dnn_tensor *rows = dnn_sum_to_shape(g, 1, (int64_t[]){3});
  CHECK(values_are(rows, (float[]){5, 7, 9}, 3) && rows->ndim == 1);
  dnn_tensor *cols = dnn_sum_to_shape(g, 2, (int64_t[]){2, 1});
  CHECK(values_are(cols, (float[]){6, 15}, 2) && cols->ndim == 2);
  dnn_tensor *r1 = dnn_sum_to_shape(g, 2, (int64_t[]){1, 3});
  CHECK(values_are(r1, (float[]){5, 7, 9}, 3) && r1->ndim == 2);
  dnn_tensor *all = dnn_sum_to_shape(g, 0, NULL);
  CHECK(all && all->ndim == 0 && dnn_data(all)[0] == 21);
  dnn_tensor *same = dnn_sum_to_shape(g, 2, (int64_t[]){2, 3});
  CHECK(same == g);
  dnn_tensor *gt = dnn_transpose(g, 0, 1); /* (3, 2), strided */
  dnn_tensor *ts = dnn_sum_to_shape(gt, 1, (int64_t[]){2});
  CHECK(values_are(ts, (float[]){6, 15}, 2));
  CHECK(dnn_sum_to_shape(g, 1, (int64_t[]){2}) == NULL && dnn_errcode() == DNN_EARG);
  CHECK(dnn_sum_to_shape(g, 3, (int64_t[]){1, 2, 3}) == NULL && dnn_errcode() == DNN_EARG);
  RELEASE(g, rows, cols, r1, all, same, gt, ts);
}

/* ---- leaf_ready: a leaf's gradient is final ---- */

enum { N_LEAVES = 4 };

typedef struct {
  dnn_tensor *leaves[N_LEAVES];
  int times[N_LEAVES]; /* how often each was reported */
  int order[N_LEAVES]; /* when (0-based) */
  float *seen[N_LEAVES]; /* its grad's values when reported */
  int n_reports, stray; /* reports in all; of tensors not in leaves */
  bool w2_grad_at_b2; /* whether W2 had a gradient when b2 was reported */
  int fail_at; /* report that returns an error, or -1 */
} ready_log;

static dnn_status on_leaf_ready(dnn_tensor *leaf, void *ud) {
  ready_log *log = ud;
  int k = 0;
  while (k < N_LEAVES && log->leaves[k] != leaf) k++;
  if (k == N_LEAVES) {
    log->stray++;
    return DNN_OK;
  }
  if (log->n_reports == log->fail_at) return dnn_error(DNN_ESTATE, "test", "the hook fails on purpose");
  log->times[k]++;
  log->order[k] = log->n_reports++;
  if (k == 3) log->w2_grad_at_b2 = log->leaves[2]->grad != NULL;
  if (leaf->grad && !log->seen[k]) {
    log->seen[k] = malloc((size_t)dnn_numel(leaf->grad) * sizeof(float));
    dnn_gather_to(leaf->grad, log->seen[k]);
  }
  return DNN_OK;
}

/* y = (x W1 + b1) W2 + b2 and r = W1 * W1 (W1 twice in one node and once in
 * another), backward from both: W1, b1, W2, b2 as leaves 0..3. */
static dnn_status two_layer_backward(dnn_tensor *const *w, const dnn_backward_opts *opts) {
  float xv[6] = {1, -2, 0.5f, 3, 1, -1};
  dnn_tensor *x = dnn_from_data(xv, 2, (int64_t[]){2, 3});
  dnn_tensor *xw = dnn_matmul(x, w[0]), *h = dnn_add(xw, w[1]);
  dnn_tensor *hw = dnn_matmul(h, w[2]), *y = dnn_add(hw, w[3]), *r = dnn_mul(w[0], w[0]);
  dnn_tensor *gy = dnn_full(2, (int64_t[]){2, 2}, 1), *gr = dnn_full(2, (int64_t[]){3, 4}, 0.5f);
  dnn_status st = dnn_backward_ex(2, (dnn_tensor *[]){y, r}, (dnn_tensor *[]){gy, gr}, opts);
  RELEASE(x, xw, h, hw, y, r, gy, gr);
  return st;
}

static void test_leaf_ready(void) {
  dnn_tensor *w[N_LEAVES], *plain[N_LEAVES];
  const int64_t shapes[N_LEAVES][2] = {{3, 4}, {4, 0}, {4, 2}, {2, 0}};
  for (int k = 0; k < N_LEAVES; k++) {
    int ndim = shapes[k][1] ? 2 : 1;
    w[k] = dnn_randn(ndim, shapes[k]);
    plain[k] = dnn_clone(w[k]);
    dnn_set_requires_grad(w[k], true);
    dnn_set_requires_grad(plain[k], true);
  }
  CHECK(two_layer_backward(plain, NULL) == DNN_OK);
  ready_log log = {.fail_at = -1};
  memcpy(log.leaves, w, sizeof w);
  dnn_backward_opts opts = {.leaf_ready = on_leaf_ready, .leaf_ready_ud = &log};
  CHECK(two_layer_backward(w, &opts) == DNN_OK);
  /* every leaf once, nothing else; each grad as the plain backward's, and as it was when reported */
  CHECK(log.n_reports == N_LEAVES && log.stray == 0);
  for (int k = 0; k < N_LEAVES; k++) {
    CHECK(log.times[k] == 1);
    CHECK(w[k]->grad && values_near(w[k]->grad, dnn_data(plain[k]->grad), dnn_numel(w[k]), 0));
    CHECK(log.seen[k] && values_near(w[k]->grad, log.seen[k], dnn_numel(w[k]), 0));
    free(log.seen[k]);
    log.seen[k] = NULL;
  }
  /* consumers first: b2 before anything ran into W2, W1 (three uses) last */
  CHECK(log.order[3] == 0 && !log.w2_grad_at_b2 && log.order[0] == N_LEAVES - 1);
  CHECK(log.order[2] < log.order[1]);

  /* a second backward accumulates, and reports each leaf again once */
  memset(log.times, 0, sizeof log.times);
  log.n_reports = 0;
  CHECK(two_layer_backward(w, &opts) == DNN_OK && two_layer_backward(plain, NULL) == DNN_OK);
  CHECK(log.n_reports == N_LEAVES && log.times[0] == 1 && log.times[3] == 1);
  for (int k = 0; k < N_LEAVES; k++) {
    CHECK(values_near(w[k]->grad, dnn_data(plain[k]->grad), dnn_numel(w[k]), 0));
    CHECK(log.seen[k] && values_near(w[k]->grad, log.seen[k], dnn_numel(w[k]), 0));
    free(log.seen[k]);
    log.seen[k] = NULL;
  }

  /* a hook's error stops the backward with it */
  memset(log.times, 0, sizeof log.times);
  log.n_reports = 0;
  log.fail_at = 1;
  CHECK(two_layer_backward(w, &opts) == DNN_ESTATE && errmsg_has("test", "on purpose"));
  CHECK(log.n_reports == 1);
  for (int k = 0; k < N_LEAVES; k++) free(log.seen[k]);

  /* a leaf as root: reported once, with its seed */
  ready_log one = {.fail_at = -1};
  dnn_tensor *s = leaf(1, (float[]){2});
  one.leaves[0] = s;
  CHECK(dnn_backward_ex(2, (dnn_tensor *[]){s, s}, NULL,
                        &(dnn_backward_opts){.leaf_ready = on_leaf_ready, .leaf_ready_ud = &one}) == DNN_OK);
  CHECK(one.n_reports == 1 && one.times[0] == 1 && one.seen[0] && one.seen[0][0] == 2);
  free(one.seen[0]);

  /* dnn_grad touches no leaf: the hook is refused */
  dnn_tensor *y = dnn_mul(w[1], w[1]), *g = NULL;
  CHECK(dnn_grad(1, &y, (dnn_tensor *[]){w[1]}, 1, &w[1], &g, &opts) == DNN_EARG && errmsg_has("grad", "leaf_ready") &&
        g == NULL);
  RELEASE(y, s);
  for (int k = 0; k < N_LEAVES; k++) RELEASE(w[k], plain[k]);
}

int main(void) {
  dnn_manual_seed(11);
  test_recording();
  test_simple_backward();
  test_accumulation();
  test_errors();
  test_no_grad_detach();
  test_shared_input();
  test_diamond();
  test_shared_intermediate();
  test_composite_gradcheck();
  test_deep_graphs();
  test_graph_memory();
  test_sum_to_shape();
  test_leaf_ready();
  return check_report("test_autograd");
}
