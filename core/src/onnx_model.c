/* The ONNX description's lifetime: everything in it is malloc'd (or a tensor
 * reference), so one function frees what the reader or a binding filled. */
#include <stdlib.h>

#include "dnn/onnx.h"

static void free_list(char **list, int64_t n) {
  if (!list) return;
  for (int64_t k = 0; k < n; k++) free(list[k]);
  free(list);
}

void dnn_onnx_tensor_clear(dnn_onnx_tensor *t) {
  if (!t) return;
  free(t->name);
  dnn_tensor_release(t->values);
  free(t->ints);
}

static void attr_clear(dnn_onnx_attr *a) {
  free(a->name);
  free(a->s);
  if (a->t) {
    dnn_onnx_tensor_clear(a->t);
    free(a->t);
  }
  free(a->floats);
  free(a->ints);
  free_list(a->strings, a->n);
}

static void node_clear(dnn_onnx_node *n) {
  free(n->name);
  free(n->op_type);
  free(n->domain);
  free_list(n->inputs, n->n_inputs);
  free_list(n->outputs, n->n_outputs);
  if (n->attrs) {
    for (int k = 0; k < n->n_attrs; k++) attr_clear(&n->attrs[k]);
  }
  free(n->attrs);
}

static void value_clear(dnn_onnx_value *v) {
  free(v->name);
  for (int d = 0; d < DNN_MAX_DIMS; d++) free(v->dim_params[d]);
}

void dnn_onnx_free(dnn_onnx_model *m) {
  if (!m) return;
  free(m->producer_name);
  free(m->producer_version);
  free(m->graph_name);
  if (m->nodes) {
    for (int k = 0; k < m->n_nodes; k++) node_clear(&m->nodes[k]);
  }
  if (m->initializers) {
    for (int k = 0; k < m->n_initializers; k++) dnn_onnx_tensor_clear(&m->initializers[k]);
  }
  if (m->inputs) {
    for (int k = 0; k < m->n_inputs; k++) value_clear(&m->inputs[k]);
  }
  if (m->outputs) {
    for (int k = 0; k < m->n_outputs; k++) value_clear(&m->outputs[k]);
  }
  free(m->nodes);
  free(m->initializers);
  free(m->inputs);
  free(m->outputs);
  free(m);
}
