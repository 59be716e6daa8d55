/* Writing ONNX files: the plain description of onnx.h becomes protobuf-c
 * messages that borrow its strings and arrays (nothing is copied but the
 * tensors' bytes), packed into one buffer; dnn_onnx_write puts the buffer
 * in place atomically. Float initializers go as raw little-endian float32,
 * integer ones as raw int64. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnn/onnx.h"
#include "onnx.pb-c.h"

#define FN "onnx.export"

/* The messages of one model, allocated together so one call frees them. */
typedef struct arena {
  void **blocks;
  size_t n, cap;
  int failed;
} arena;

static void *arena_alloc(arena *a, size_t bytes) {
  if (a->failed) return NULL;
  if (a->n == a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 64;
    void **blocks = realloc(a->blocks, cap * sizeof *blocks);
    if (!blocks) {
      a->failed = 1;
      return NULL;
    }
    a->blocks = blocks, a->cap = cap;
  }
  void *p = calloc(1, bytes ? bytes : 1);
  if (!p) {
    a->failed = 1;
    return NULL;
  }
  a->blocks[a->n++] = p;
  return p;
}

static void arena_free(arena *a) {
  for (size_t k = 0; k < a->n; k++) free(a->blocks[k]);
  free(a->blocks);
}

static Onnx__TensorProto *tensor_proto(arena *a, const dnn_onnx_tensor *t) {
  Onnx__TensorProto *tp = arena_alloc(a, sizeof *tp);
  if (!tp) return NULL;
  onnx__tensor_proto__init(tp);
  tp->name = t->name;
  tp->n_dims = (size_t)t->ndim;
  tp->dims = (int64_t *)t->dims;
  tp->has_data_type = 1;
  tp->data_type = t->is_int ? DNN_ONNX_INT64 : DNN_ONNX_FLOAT;
  tp->has_raw_data = 1;
  int64_t numel = 1;
  for (int d = 0; d < t->ndim; d++) numel *= t->dims[d];
  if (t->is_int) {
    tp->raw_data.len = (size_t)numel * sizeof(int64_t);
    tp->raw_data.data = arena_alloc(a, tp->raw_data.len);
    if (tp->raw_data.data && numel > 0) memcpy(tp->raw_data.data, t->ints, tp->raw_data.len);
  } else {
    if (!t->values || dnn_numel(t->values) != numel) {
      dnn_error(DNN_EARG, FN, "tensor '%s': its values do not match its dims", t->name ? t->name : "");
      a->failed = 2;
      return NULL;
    }
    tp->raw_data.len = (size_t)numel * sizeof(float);
    tp->raw_data.data = arena_alloc(a, tp->raw_data.len);
    if (tp->raw_data.data) dnn_gather_to(t->values, (float *)tp->raw_data.data);
  }
  return tp->raw_data.data ? tp : NULL;
}

static Onnx__AttributeProto *attr_proto(arena *a, const dnn_onnx_attr *at) {
  Onnx__AttributeProto *ap = arena_alloc(a, sizeof *ap);
  if (!ap) return NULL;
  onnx__attribute_proto__init(ap);
  ap->name = at->name;
  ap->has_type = 1;
  ap->type = (Onnx__AttributeProto__AttributeType)at->type;
  switch (at->type) {
    case DNN_ONNX_ATTR_FLOAT:
      ap->has_f = 1, ap->f = (float)at->f;
      break;
    case DNN_ONNX_ATTR_INT:
      ap->has_i = 1, ap->i = at->i;
      break;
    case DNN_ONNX_ATTR_STRING:
      ap->has_s = 1, ap->s.data = (uint8_t *)at->s, ap->s.len = at->s_len;
      break;
    case DNN_ONNX_ATTR_TENSOR:
      ap->t = tensor_proto(a, at->t);
      if (!ap->t) return NULL;
      break;
    case DNN_ONNX_ATTR_FLOATS:
      ap->n_floats = (size_t)at->n;
      ap->floats = arena_alloc(a, (size_t)at->n * sizeof(float));
      if (!ap->floats) return NULL;
      for (int64_t k = 0; k < at->n; k++) ap->floats[k] = (float)at->floats[k];
      break;
    case DNN_ONNX_ATTR_INTS:
      ap->n_ints = (size_t)at->n, ap->ints = at->ints;
      break;
    case DNN_ONNX_ATTR_STRINGS:
      ap->n_strings = (size_t)at->n;
      ap->strings = arena_alloc(a, (size_t)at->n * sizeof *ap->strings);
      if (!ap->strings) return NULL;
      for (int64_t k = 0; k < at->n; k++) {
        ap->strings[k].data = (uint8_t *)at->strings[k], ap->strings[k].len = strlen(at->strings[k]);
      }
      break;
    default:
      dnn_error(DNN_EARG, FN, "attribute '%s' has type %d, which is not written", at->name, (int)at->type);
      a->failed = 2;
      return NULL;
  }
  return ap;
}

static Onnx__NodeProto *node_proto(arena *a, const dnn_onnx_node *n) {
  Onnx__NodeProto *np = arena_alloc(a, sizeof *np);
  Onnx__AttributeProto **attrs = arena_alloc(a, (size_t)n->n_attrs * sizeof *attrs);
  if (!np || !attrs) return NULL;
  onnx__node_proto__init(np);
  np->name = n->name, np->op_type = n->op_type;
  np->domain = n->domain && n->domain[0] ? n->domain : NULL;
  np->n_input = (size_t)n->n_inputs, np->input = n->inputs;
  np->n_output = (size_t)n->n_outputs, np->output = n->outputs;
  for (int k = 0; k < n->n_attrs; k++) {
    attrs[k] = attr_proto(a, &n->attrs[k]);
    if (!attrs[k]) return NULL;
  }
  np->n_attribute = (size_t)n->n_attrs, np->attribute = attrs;
  return np;
}

static Onnx__ValueInfoProto *value_proto(arena *a, const dnn_onnx_value *v) {
  Onnx__ValueInfoProto *vp = arena_alloc(a, sizeof *vp);
  Onnx__TypeProto *type = arena_alloc(a, sizeof *type);
  Onnx__TypeProto__Tensor *tensor = arena_alloc(a, sizeof *tensor);
  Onnx__TensorShapeProto *shape = arena_alloc(a, sizeof *shape);
  int ndim = v->ndim > 0 ? v->ndim : 0;
  Onnx__TensorShapeProto__Dimension **dims = arena_alloc(a, (size_t)ndim * sizeof *dims);
  if (!vp || !type || !tensor || !shape || !dims) return NULL;
  onnx__value_info_proto__init(vp);
  onnx__type_proto__init(type);
  onnx__type_proto__tensor__init(tensor);
  onnx__tensor_shape_proto__init(shape);
  for (int d = 0; d < ndim; d++) {
    Onnx__TensorShapeProto__Dimension *dim = arena_alloc(a, sizeof *dim);
    if (!dim) return NULL;
    onnx__tensor_shape_proto__dimension__init(dim);
    if (v->dims[d] >= 0) {
      dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE, dim->dim_value = v->dims[d];
    } else if (v->dim_params[d]) {
      dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM, dim->dim_param = v->dim_params[d];
    }
    dims[d] = dim;
  }
  shape->n_dim = (size_t)ndim, shape->dim = dims;
  tensor->has_elem_type = 1, tensor->elem_type = v->elem_type;
  tensor->shape = v->ndim >= 0 ? shape : NULL;
  type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, type->tensor_type = tensor;
  vp->name = v->name, vp->type = type;
  return vp;
}

/* The ModelProto of m, its parts in arena a; NULL when an allocation failed. */
static Onnx__ModelProto *model_proto(arena *a, const dnn_onnx_model *m) {
  Onnx__ModelProto *pm = arena_alloc(a, sizeof *pm);
  Onnx__GraphProto *g = arena_alloc(a, sizeof *g);
  Onnx__OperatorSetIdProto *opset = arena_alloc(a, sizeof *opset);
  Onnx__OperatorSetIdProto **opsets = arena_alloc(a, sizeof *opsets);
  Onnx__NodeProto **nodes = arena_alloc(a, (size_t)m->n_nodes * sizeof *nodes);
  Onnx__TensorProto **inits = arena_alloc(a, (size_t)m->n_initializers * sizeof *inits);
  Onnx__ValueInfoProto **inputs = arena_alloc(a, (size_t)m->n_inputs * sizeof *inputs);
  Onnx__ValueInfoProto **outputs = arena_alloc(a, (size_t)m->n_outputs * sizeof *outputs);
  if (!pm || !g || !opset || !opsets || !nodes || !inits || !inputs || !outputs) return NULL;
  onnx__model_proto__init(pm);
  onnx__graph_proto__init(g);
  onnx__operator_set_id_proto__init(opset);
  opset->domain = "", opset->has_version = 1, opset->version = m->opset;
  opsets[0] = opset;
  for (int k = 0; k < m->n_nodes; k++) {
    if (!(nodes[k] = node_proto(a, &m->nodes[k]))) return NULL;
  }
  for (int k = 0; k < m->n_initializers; k++) {
    if (!(inits[k] = tensor_proto(a, &m->initializers[k]))) return NULL;
  }
  for (int k = 0; k < m->n_inputs; k++) {
    if (!(inputs[k] = value_proto(a, &m->inputs[k]))) return NULL;
  }
  for (int k = 0; k < m->n_outputs; k++) {
    if (!(outputs[k] = value_proto(a, &m->outputs[k]))) return NULL;
  }
  g->name = m->graph_name;
  g->n_node = (size_t)m->n_nodes, g->node = nodes;
  g->n_initializer = (size_t)m->n_initializers, g->initializer = inits;
  g->n_input = (size_t)m->n_inputs, g->input = inputs;
  g->n_output = (size_t)m->n_outputs, g->output = outputs;
  pm->has_ir_version = 1, pm->ir_version = m->ir_version;
  pm->n_opset_import = 1, pm->opset_import = opsets;
  pm->producer_name = m->producer_name, pm->producer_version = m->producer_version;
  pm->graph = g;
  return pm;
}

uint8_t *dnn_onnx_serialize(const dnn_onnx_model *m, size_t *n) {
  arena a = {0};
  Onnx__ModelProto *pm = model_proto(&a, m);
  uint8_t *out = NULL;
  if (pm) {
    size_t len = onnx__model_proto__get_packed_size(pm);
    if (len > DNN_ONNX_MAX_BYTES) {
      dnn_error(DNN_EARG, FN, "the model needs %zu bytes, more than an ONNX file may hold (%zu)", len,
                DNN_ONNX_MAX_BYTES);
    } else if ((out = malloc(len ? len : 1))) {
      *n = onnx__model_proto__pack(pm, out);
    } else {
      dnn_error(DNN_ENOMEM, FN, "out of memory for %zu bytes", len);
    }
  } else if (a.failed != 2) {
    dnn_error(DNN_ENOMEM, FN, "out of memory");
  }
  arena_free(&a);
  return out;
}

dnn_status dnn_onnx_write(const char *path, const dnn_onnx_model *m) {
  size_t n = 0;
  uint8_t *bytes = dnn_onnx_serialize(m, &n);
  if (!bytes) return dnn_errcode();
  size_t tmp_len = strlen(path) + 32;
  char *tmp = malloc(tmp_len);
  if (!tmp) {
    free(bytes);
    return dnn_error(DNN_ENOMEM, FN, "out of memory");
  }
  snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
  dnn_status st = DNN_OK;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    st = dnn_error(DNN_EIO, FN, "%s: cannot create the temporary file %s: %s", path, tmp, strerror(errno));
  } else {
    size_t done = 0;
    while (done < n) {
      ssize_t k = write(fd, bytes + done, n - done);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) break;
      done += (size_t)k;
    }
    int ok = done == n && fsync(fd) == 0;
    int saved = errno;
    ok = close(fd) == 0 && ok;
    if (!ok) {
      unlink(tmp);
      st = dnn_error(DNN_EIO, FN, "%s: error writing %s: %s", path, tmp, strerror(saved));
    } else if (rename(tmp, path) != 0) {
      saved = errno;
      unlink(tmp);
      st = dnn_error(DNN_EIO, FN, "%s: cannot rename %s into place: %s", path, tmp, strerror(saved));
    }
  }
  free(tmp);
  free(bytes);
  return st;
}
