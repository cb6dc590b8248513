/* BPE merges of one pre-token in C: the optional fast path of bpe.encoding (pure Python is the fallback).
 *
 * The result is GPT-2's: repeatedly merge the adjacent pair with the lowest merge rank, leftmost first.
 * Merges live in an open-addressing hash table keyed by (left id, right id). Short pieces (nearly all
 * text) merge by scanning their pairs for the lowest rank, as tiktoken does; longer ones use a min-heap
 * over a linked list, O(n log n) where the scan would be quadratic. Long pieces merge with the GIL
 * released, so that threads encoding at once use their cores.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define NO_RANK UINT32_MAX
#define SCAN_MAX 96      /* bytes; longer pieces merge on the heap */
#define NOGIL_MIN 4096   /* bytes; pieces this long merge with the GIL released */

typedef struct {
    uint64_t key; /* left << 32 | right */
    uint32_t rank; /* NO_RANK marks an empty slot */
    uint32_t merged;
} Slot;

typedef struct {
    PyObject_HEAD
    Slot *slots;
    uint64_t mask;
    int shift;
    uint32_t byte_ids[256];
} Merger;

static inline uint32_t
rank_of(const Merger *m, uint32_t left, uint32_t right, uint32_t *merged)
{
    uint64_t key = ((uint64_t)left << 32) | right;
    uint64_t i = (key * 0x9E3779B97F4A7C15ULL) >> m->shift;
    for (;;) {
        const Slot *slot = &m->slots[i];
        if (slot->rank == NO_RANK) {
            return NO_RANK;
        }
        if (slot->key == key) {
            *merged = slot->merged;
            return slot->rank;
        }
        i = (i + 1) & m->mask;
    }
}

/* Pieces up to SCAN_MAX bytes: the lowest rank by a scan, then only the two neighbours change. */
static Py_ssize_t
merge_scan(const Merger *m, uint32_t *ids, Py_ssize_t n)
{
    uint32_t ranks[SCAN_MAX], merged[SCAN_MAX];
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        ranks[i] = rank_of(m, ids[i], ids[i + 1], &merged[i]);
    }
    while (n > 1) {
        uint32_t best = NO_RANK;
        Py_ssize_t at = -1;
        for (Py_ssize_t i = 0; i + 1 < n; i++) {
            if (ranks[i] < best) {
                best = ranks[i];
                at = i;
            }
        }
        if (at < 0) {
            break;
        }
        ids[at] = merged[at];
        memmove(ids + at + 1, ids + at + 2, (size_t)(n - at - 2) * sizeof *ids);
        memmove(ranks + at, ranks + at + 1, (size_t)(n - at - 2) * sizeof *ranks);
        memmove(merged + at, merged + at + 1, (size_t)(n - at - 2) * sizeof *merged);
        n--;
        if (at > 0) {
            ranks[at - 1] = rank_of(m, ids[at - 1], ids[at], &merged[at - 1]);
        }
        if (at + 1 < n) {
            ranks[at] = rank_of(m, ids[at], ids[at + 1], &merged[at]);
        }
    }
    return n;
}

/* A binary min-heap of rank << 32 | position: ties go to the leftmost pair. */
static inline void
heap_push(uint64_t *heap, Py_ssize_t *size, uint64_t entry)
{
    Py_ssize_t i = (*size)++;
    while (i > 0) {
        Py_ssize_t parent = (i - 1) / 2;
        if (heap[parent] <= entry) {
            break;
        }
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = entry;
}

static inline void
heap_sift_down(uint64_t *heap, Py_ssize_t size, Py_ssize_t i)
{
    uint64_t entry = heap[i];
    for (;;) {
        Py_ssize_t child = 2 * i + 1;
        if (child >= size) {
            break;
        }
        if (child + 1 < size && heap[child + 1] < heap[child]) {
            child++;
        }
        if (heap[child] >= entry) {
            break;
        }
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = entry;
}

/* Longer pieces: merges popped from the heap, skipping entries a neighbour's merge made stale. The
 * tokens that survive are compacted to the front of ids; returns their count. links holds 2n words and
 * heap 2n entries: n - 1 pairs at first, and each merge pops one entry and pushes at most two. */
static Py_ssize_t
merge_heap(const Merger *m, uint32_t *ids, Py_ssize_t n, uint32_t *links, uint64_t *heap)
{
    uint32_t *next = links, *prev = links + n;
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = (uint32_t)(i - 1); /* UINT32_MAX before the first */
    }
    uint32_t merged = 0;
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        uint32_t rank = rank_of(m, ids[i], ids[i + 1], &merged);
        if (rank != NO_RANK) {
            heap[size++] = ((uint64_t)rank << 32) | (uint64_t)i;
        }
    }
    for (Py_ssize_t i = size / 2 - 1; i >= 0; i--) {
        heap_sift_down(heap, size, i);
    }
    const uint32_t end = (uint32_t)n, dead = UINT32_MAX - 1;
    while (size > 0) {
        uint64_t top = heap[0];
        heap[0] = heap[--size];
        if (size > 0) {
            heap_sift_down(heap, size, 0);
        }
        uint32_t i = (uint32_t)top, j = next[i];
        if (j == end || prev[i] == dead) {
            continue;
        }
        uint32_t rank = rank_of(m, ids[i], ids[j], &merged);
        if (rank != (uint32_t)(top >> 32)) {
            continue; /* stale: a neighbour changed since this pair was pushed */
        }
        ids[i] = merged;
        prev[j] = dead;
        uint32_t k = next[j];
        next[i] = k;
        if (k != end) {
            prev[k] = i;
            rank = rank_of(m, ids[i], ids[k], &merged);
            if (rank != NO_RANK) {
                heap_push(heap, &size, ((uint64_t)rank << 32) | i);
            }
        }
        uint32_t h = prev[i];
        if (h != UINT32_MAX) {
            rank = rank_of(m, ids[h], ids[i], &merged);
            if (rank != NO_RANK) {
                heap_push(heap, &size, ((uint64_t)rank << 32) | h);
            }
        }
    }
    Py_ssize_t count = 0;
    for (uint32_t i = 0; i != end; i = next[i]) {
        ids[count++] = ids[i];
    }
    return count;
}

static PyObject *
ids_to_tuple(const uint32_t *ids, Py_ssize_t count)
{
    PyObject *result = PyTuple_New(count);
    for (Py_ssize_t i = 0; result && i < count; i++) {
        PyObject *id = PyLong_FromUnsignedLong(ids[i]);
        if (!id) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, i, id);
    }
    return result;
}

static PyObject *
Merger_encode(Merger *self, PyObject *arg)
{
    Py_buffer piece;
    if (PyObject_GetBuffer(arg, &piece, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    const unsigned char *bytes = piece.buf;
    Py_ssize_t n = piece.len;
    if (n <= SCAN_MAX) {
        uint32_t ids[SCAN_MAX];
        for (Py_ssize_t i = 0; i < n; i++) {
            ids[i] = self->byte_ids[bytes[i]];
        }
        PyBuffer_Release(&piece);
        return ids_to_tuple(ids, merge_scan(self, ids, n));
    }
    if ((uint64_t)n >= UINT32_MAX - 1) {
        PyBuffer_Release(&piece);
        PyErr_SetString(PyExc_OverflowError, "a pre-token of 4 GiB or more");
        return NULL;
    }
    uint32_t *ids = PyMem_RawMalloc((size_t)n * 3 * sizeof(uint32_t)); /* the ids, then the links */
    uint64_t *heap = PyMem_RawMalloc((size_t)n * 2 * sizeof(uint64_t));
    if (!ids || !heap) {
        PyMem_RawFree(ids);
        PyMem_RawFree(heap);
        PyBuffer_Release(&piece);
        return PyErr_NoMemory();
    }
    PyThreadState *thread = n >= NOGIL_MIN ? PyEval_SaveThread() : NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        ids[i] = self->byte_ids[bytes[i]];
    }
    Py_ssize_t count = merge_heap(self, ids, n, ids + n, heap);
    if (thread) {
        PyEval_RestoreThread(thread);
    }
    PyMem_RawFree(heap);
    PyBuffer_Release(&piece);
    PyObject *result = ids_to_tuple(ids, count);
    PyMem_RawFree(ids);
    return result;
}

static int
id_from(PyObject *object, uint32_t *out, const char *what)
{
    unsigned long long value = PyLong_AsUnsignedLongLong(object);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) {
        return -1;
    }
    if (value > UINT32_MAX) {
        PyErr_Format(PyExc_OverflowError, "%s %llu does not fit an unsigned 32-bit id", what, value);
        return -1;
    }
    *out = (uint32_t)value;
    return 0;
}

/* Merger(byte_ids, merges): the ids of bytes 0..255, and (left, right, merged) id triples in rank
 * order. A pair listed twice keeps its later rank, as a dict built in order would. */
static int
Merger_init(Merger *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"byte_ids", "merges", NULL};
    PyObject *byte_ids, *merges;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:Merger", keywords, &byte_ids, &merges)) {
        return -1;
    }
    PyObject *bytes_fast = PySequence_Fast(byte_ids, "byte_ids must be a sequence");
    if (!bytes_fast) {
        return -1;
    }
    if (PySequence_Fast_GET_SIZE(bytes_fast) != 256) {
        Py_DECREF(bytes_fast);
        PyErr_SetString(PyExc_ValueError, "byte_ids must hold 256 ids");
        return -1;
    }
    for (Py_ssize_t b = 0; b < 256; b++) {
        if (id_from(PySequence_Fast_GET_ITEM(bytes_fast, b), &self->byte_ids[b], "byte id") < 0) {
            Py_DECREF(bytes_fast);
            return -1;
        }
    }
    Py_DECREF(bytes_fast);

    PyObject *merges_fast = PySequence_Fast(merges, "merges must be a sequence");
    if (!merges_fast) {
        return -1;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(merges_fast);
    if ((uint64_t)count >= NO_RANK) {
        Py_DECREF(merges_fast);
        PyErr_SetString(PyExc_OverflowError, "too many merges");
        return -1;
    }
    int bits = 4;
    while (((uint64_t)1 << bits) < (uint64_t)count * 2 + 16) {
        bits++;
    }
    PyMem_Free(self->slots);
    self->slots = PyMem_Malloc(sizeof(Slot) << bits);
    if (!self->slots) {
        Py_DECREF(merges_fast);
        PyErr_NoMemory();
        return -1;
    }
    self->mask = ((uint64_t)1 << bits) - 1;
    self->shift = 64 - bits;
    for (uint64_t i = 0; i <= self->mask; i++) {
        self->slots[i].rank = NO_RANK;
    }
    for (Py_ssize_t rank = 0; rank < count; rank++) {
        PyObject *triple = PySequence_Fast(PySequence_Fast_GET_ITEM(merges_fast, rank),
                                           "each merge must be a (left, right, merged) triple");
        if (!triple) {
            Py_DECREF(merges_fast);
            return -1;
        }
        uint32_t left, right, merged;
        if (PySequence_Fast_GET_SIZE(triple) != 3
            || id_from(PySequence_Fast_GET_ITEM(triple, 0), &left, "left id") < 0
            || id_from(PySequence_Fast_GET_ITEM(triple, 1), &right, "right id") < 0
            || id_from(PySequence_Fast_GET_ITEM(triple, 2), &merged, "merged id") < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "each merge must be a (left, right, merged) triple");
            }
            Py_DECREF(triple);
            Py_DECREF(merges_fast);
            return -1;
        }
        Py_DECREF(triple);
        uint64_t key = ((uint64_t)left << 32) | right;
        uint64_t i = (key * 0x9E3779B97F4A7C15ULL) >> self->shift;
        while (self->slots[i].rank != NO_RANK && self->slots[i].key != key) {
            i = (i + 1) & self->mask;
        }
        self->slots[i] = (Slot){key, (uint32_t)rank, merged};
    }
    Py_DECREF(merges_fast);
    return 0;
}

static void
Merger_dealloc(Merger *self)
{
    PyMem_Free(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Merger_methods[] = {
    {"encode", (PyCFunction)Merger_encode, METH_O,
     "encode(piece: bytes) -> tuple[int, ...]: the ids of one pre-token after all its merges."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject MergerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bpe._merge.Merger",
    .tp_doc = PyDoc_STR("Merger(byte_ids, merges): GPT-2's BPE merges of one pre-token, in C."),
    .tp_basicsize = sizeof(Merger),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Merger_init,
    .tp_dealloc = (destructor)Merger_dealloc,
    .tp_methods = Merger_methods,
};

static struct PyModuleDef merge_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "bpe._merge",
    .m_doc = "GPT-2's BPE merges in C; bpe.encoding falls back to pure Python without it.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__merge(void)
{
    if (PyType_Ready(&MergerType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&merge_module);
    if (!module) {
        return NULL;
    }
    Py_INCREF(&MergerType);
    if (PyModule_AddObject(module, "Merger", (PyObject *)&MergerType) < 0) {
        Py_DECREF(&MergerType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
