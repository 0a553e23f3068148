/*
 * The engine's only C++: tt_ann (tt/ann.h) over FAISS. Every entry point catches every
 * exception, so no C++ exception ever unwinds into C: FAISS errors become TT_EINTERNAL or
 * TT_ECORRUPT with FAISS's message, allocation failures TT_ENOMEM.
 */
extern "C" {
#include "ann_priv.h"
#include "tt/core.h"
}

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

struct tt_ann {
    faiss::Index *index;
    enum tt_ann_type type;
};

namespace {

/* Runs @f, turning any exception into an error code (@what names the operation). */
template <class F>
int guarded(tt_err *err, int fail_code, const char *what, F f)
{
    try {
        return f();
    } catch (const std::bad_alloc &) {
        /* Reading, an allocation failure means sizes read from the data are absurd. */
        if (fail_code == TT_ECORRUPT)
            return tt_err_set(err, TT_ECORRUPT, "%s: sizes in the data are not plausible", what);
        return tt_err_set(err, TT_ENOMEM, "%s: out of memory", what);
    } catch (const faiss::FaissException &e) {
        return tt_err_set(err, fail_code, "%s: %s", what, e.what());
    } catch (const std::exception &e) {
        return tt_err_set(err, fail_code, "%s: %s", what, e.what());
    } catch (...) {
        return tt_err_set(err, fail_code, "%s: unknown error", what);
    }
}

/* Restores the calling thread's OpenMP thread count when it goes out of scope. */
struct omp_threads {
    int saved;
    explicit omp_threads(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
    ~omp_threads() { omp_set_num_threads(saved); }
    omp_threads(const omp_threads &) = delete;
    omp_threads &operator=(const omp_threads &) = delete;
};

enum tt_ann_type type_of(const faiss::Index *ix)
{
    if (dynamic_cast<const faiss::IndexHNSW *>(ix))
        return TT_ANN_HNSW;
    if (dynamic_cast<const faiss::IndexIVF *>(ix))
        return TT_ANN_IVF;
    if (dynamic_cast<const faiss::IndexFlat *>(ix))
        return TT_ANN_FLAT;
    return TT_ANN_AUTO;
}

/* Reads a serialised index in place (FAISS's VectorIOReader would first copy it whole). */
struct buffer_reader : faiss::IOReader {
    const uint8_t *p;
    size_t len, at = 0;
    buffer_reader(const uint8_t *buf, size_t n) : p(buf), len(n) {}
    size_t operator()(void *dst, size_t size, size_t nitems) override
    {
        size_t n = size ? (len - at) / size : 0;
        if (n > nitems)
            n = nitems;
        if (n)
            std::memcpy(dst, p + at, n * size);
        at += n * size;
        return n;
    }
};

/*
 * FAISS sizes what it reads by counts read from the data and allocates before reading the
 * items (a count may be up to 2^40): a damaged file could make it allocate terabytes, or
 * gigabytes it then fills with zeros. So a serialisation is first walked as FAISS writes
 * the three kinds the engine builds: "IxFI" (flat, inner product), "IwFl" (IVF) over an
 * IxFI quantizer with in-memory lists ("ilar"), "IHNf" (HNSW) over IxFI storage. Any
 * count that asks for more bytes than are left, vectors of a flat index other than its
 * count times its dimension, lists other than its quantizer has centroids, trailing
 * bytes, or another kind (lists kept in a file of their own among them) refuse it before
 * FAISS reads anything.
 */
struct walk {
    const uint8_t *p;
    size_t n, at;
    bool ok;

    bool take(size_t bytes)
    {
        if (!ok || bytes > n - at)
            return ok = false;
        at += bytes;
        return true;
    }
    template <class T> T get()
    {
        T v{};
        if (take(sizeof(T)))
            std::memcpy(&v, p + at - sizeof(T), sizeof(T));
        return v;
    }
    /* A four-character code, as FAISS tags the kind of what follows. */
    bool fourcc(const char *want)
    {
        return take(4) && std::memcmp(p + at - 4, want, 4) == 0;
    }
    /* A FAISS vector: a count, then that many items of @size bytes; returns the count. */
    uint64_t vec(size_t size)
    {
        uint64_t c = get<uint64_t>();
        if (ok && c > (n - at) / size)
            ok = false;
        take((size_t)c * size);
        return ok ? c : 0;
    }
};

/*
 * write_index_header: d, ntotal, two unused counts, is_trained, metric. The engine's indexes
 * are all inner product (0): checked here, as an int, because any other number (FAISS keeps
 * it as read) would be an out-of-range MetricType, whose every C++ load is undefined.
 */
void walk_header(walk &w, int32_t *d, int64_t *ntotal)
{
    *d = w.get<int32_t>();
    *ntotal = w.get<int64_t>();
    w.take(8 + 8 + 1);
    if (w.get<int32_t>() != (int32_t)faiss::METRIC_INNER_PRODUCT)
        w.ok = false;
}

/* A flat inner-product index: its vectors are ntotal x d floats. */
bool walk_flat(walk &w, int64_t *ntotal)
{
    int32_t d = 0;

    if (!w.fourcc("IxFI"))
        return false;
    walk_header(w, &d, ntotal);
    uint64_t floats = w.vec(sizeof(float));
    return w.ok && d > 0 && *ntotal >= 0 && floats % (uint64_t)d == 0 &&
           floats / (uint64_t)d == (uint64_t)*ntotal;
}

/* In-memory inverted lists ("ilar"): sizes ("full" or "sprs"), then each list's codes and ids. */
bool walk_lists(walk &w, uint64_t nlist)
{
    uint64_t nl, code_size, count;
    size_t sizes;
    bool full;

    if (!w.fourcc("ilar"))
        return false;
    nl = w.get<uint64_t>();
    code_size = w.get<uint64_t>();
    if (!w.take(4))
        return false;
    full = std::memcmp(w.p + w.at - 4, "full", 4) == 0;
    if (!full && std::memcmp(w.p + w.at - 4, "sprs", 4) != 0)
        return false;
    sizes = w.at + 8;
    count = w.vec(sizeof(uint64_t));
    if (!w.ok || nl != nlist || code_size == 0 || code_size > w.n ||
        count != (full ? nlist : count - count % 2))
        return false;
    /* "full": one size per list; "sprs": (list, size) pairs of the lists that hold any. */
    for (uint64_t i = full ? 0 : 1, last = 0; i < count; i += full ? 1 : 2) {
        uint64_t items, list;
        std::memcpy(&items, w.p + sizes + i * 8, 8);
        if (!full && (std::memcpy(&list, w.p + sizes + (i - 1) * 8, 8), list >= nlist ||
                      (i > 1 && list <= last)))
            return false;
        last = full ? 0 : list;
        if (items > (w.n - w.at) / (code_size + 8) || !w.take((size_t)(items * (code_size + 8))))
            return false;
    }
    return true;
}

bool walk_ivf(walk &w)
{
    int32_t d = 0;
    int64_t ntotal = 0, centroids = 0;
    uint64_t nlist;

    walk_header(w, &d, &ntotal);
    nlist = w.get<uint64_t>();
    w.take(8); /* nprobe */
    if (!walk_flat(w, &centroids) || (uint64_t)centroids != nlist)
        return false;
    if (w.get<uint8_t>() == 2) { /* direct map: its type, array, and hash table */
        w.vec(sizeof(int64_t));
        w.vec(2 * sizeof(int64_t));
    } else {
        w.vec(sizeof(int64_t));
    }
    return walk_lists(w, nlist);
}

/* write_HNSW: five vectors, then entry point, top level, efConstruction, efSearch, upper beam. */
bool walk_hnsw(walk &w)
{
    int32_t d = 0;
    int64_t ntotal = 0, stored = 0;

    walk_header(w, &d, &ntotal);
    w.vec(sizeof(double));
    w.vec(sizeof(int32_t));
    w.vec(sizeof(int32_t));
    w.vec(sizeof(uint64_t));
    w.vec(sizeof(int32_t));
    w.take(5 * sizeof(int32_t));
    return walk_flat(w, &stored);
}

bool plausible(const uint8_t *buf, size_t len)
{
    walk w{buf, len, 0, true};
    int64_t ntotal = 0;
    bool ok;

    if (w.fourcc("IwFl"))
        ok = walk_ivf(w);
    else if ((w = walk{buf, len, 0, true}).fourcc("IHNf"))
        ok = walk_hnsw(w);
    else
        ok = (w = walk{buf, len, 0, true}, walk_flat(w, &ntotal));
    return ok && w.ok && w.at == len;
}

/*
 * FAISS reads what a serialised index says without checking that its parts agree: inverted
 * lists holding ids past the index's size, a graph whose offsets, levels or neighbours point
 * past its arrays, fewer stored vectors than it counts. Searching such an index reads out of
 * bounds, or returns ids the engine takes for track numbers, so an index read back is only
 * accepted when its parts describe each other (what FAISS's builders always make).
 */
bool flat_consistent(const faiss::Index *ix)
{
    auto *f = dynamic_cast<const faiss::IndexFlatCodes *>(ix);

    return f && f->d > 0 && f->ntotal >= 0 && f->code_size == (size_t)f->d * sizeof(float) &&
           f->codes.size() % f->code_size == 0 &&
           f->codes.size() / f->code_size == (size_t)f->ntotal;
}

bool ivf_consistent(const faiss::IndexIVF *ivf)
{
    auto *lists = dynamic_cast<const faiss::ArrayInvertedLists *>(ivf->invlists);
    size_t total = 0;

    if (!lists || !ivf->quantizer || ivf->d <= 0 || ivf->ntotal < 0 ||
        ivf->quantizer->d != ivf->d || !flat_consistent(ivf->quantizer) ||
        (size_t)ivf->quantizer->ntotal != ivf->nlist || lists->nlist != ivf->nlist ||
        ivf->code_size != (size_t)ivf->d * sizeof(float) || lists->code_size != ivf->code_size ||
        lists->ids.size() != ivf->nlist || lists->codes.size() != ivf->nlist)
        return false;
    for (size_t l = 0; l < ivf->nlist; l++) {
        if (lists->codes[l].size() / ivf->code_size != lists->ids[l].size() ||
            lists->codes[l].size() % ivf->code_size != 0)
            return false;
        for (faiss::Index::idx_t id : lists->ids[l])
            if (id < 0 || id >= ivf->ntotal)
                return false;
        total += lists->ids[l].size();
    }
    return total == (size_t)ivf->ntotal;
}

/* Node @i's lists in layers 0 .. levels[i] - 1 name nodes that exist in those layers. */
bool hnsw_node_consistent(const faiss::HNSW &g, size_t i, size_t n)
{
    int top = g.levels[i];

    if (top < 1 || (size_t)top >= g.cum_nneighbor_per_level.size() ||
        g.offsets[i + 1] < g.offsets[i] ||
        g.offsets[i + 1] - g.offsets[i] != (size_t)g.cum_nneighbor_per_level[top])
        return false;
    for (int l = 0; l < top; l++) {
        size_t b, e;
        g.neighbor_range((faiss::Index::idx_t)i, l, &b, &e);
        for (size_t j = b; j < e; j++) {
            faiss::HNSW::storage_idx_t nb = g.neighbors[j];
            if (nb < -1 || (nb >= 0 && ((size_t)nb >= n || g.levels[nb] <= l)))
                return false;
        }
    }
    return true;
}

bool hnsw_consistent(const faiss::IndexHNSW *h)
{
    const faiss::HNSW &g = h->hnsw;
    const std::vector<int> &cum = g.cum_nneighbor_per_level;
    size_t n = h->ntotal >= 0 ? (size_t)h->ntotal : 0;

    if (h->ntotal < 0 || h->d <= 0 || !h->storage || h->storage->d != h->d ||
        h->storage->ntotal != h->ntotal || !flat_consistent(h->storage) ||
        g.levels.size() != n || g.offsets.size() != n + 1 || cum.size() < 2 || cum[0] != 0 ||
        g.offsets[0] != 0 || g.offsets[n] != g.neighbors.size())
        return false;
    for (size_t l = 1; l < cum.size(); l++)
        if (cum[l] < cum[l - 1])
            return false;
    for (size_t i = 0; i < n; i++)
        if (!hnsw_node_consistent(g, i, n))
            return false;
    if (n == 0)
        return g.entry_point == -1;
    return g.entry_point >= 0 && (size_t)g.entry_point < n &&
           g.max_level == g.levels[g.entry_point] - 1;
}

bool consistent(const faiss::Index *ix, enum tt_ann_type t)
{
    if (t == TT_ANN_HNSW)
        return hnsw_consistent(static_cast<const faiss::IndexHNSW *>(ix));
    if (t == TT_ANN_IVF)
        return ivf_consistent(static_cast<const faiss::IndexIVF *>(ix));
    return flat_consistent(ix);
}

int default_nlist(int64_t n)
{
    int64_t nl = (int64_t)(4.0 * std::sqrt((double)n));
    /* k-means wants about 39 training points per list */
    if (nl > n / 39)
        nl = n / 39;
    return (int)(nl < 1 ? 1 : nl);
}

} // namespace

extern "C" {

tt_ann_params tt_ann_params_default(void)
{
    tt_ann_params p;
    std::memset(&p, 0, sizeof(p));
    p.type = TT_ANN_AUTO;
    p.nprobe = 32;
    p.m = 32;
    p.ef_construction = 80;
    p.ef_search = 64;
    p.seed = 1234;
    return p;
}

enum tt_ann_type tt_ann_auto_type(int64_t n)
{
    if (n <= 20000)
        return TT_ANN_FLAT;
    return n <= 2000000 ? TT_ANN_HNSW : TT_ANN_IVF;
}

static int check_build(int64_t n, int d, const tt_ann_params *p, tt_err *err)
{
    if (n < 1 || d < 1)
        return tt_err_set(err, TT_EINVAL, "an index needs at least one vector of dimension >= 1 "
                                          "(got %lld x %d)", (long long)n, d);
    /* Read as an int: a C++ load of an out-of-range enum value is itself undefined. */
    int type;
    std::memcpy(&type, &p->type, sizeof(type));
    if (type < TT_ANN_AUTO || type > TT_ANN_HNSW)
        return tt_err_set_field(err, TT_EINVAL, "type", "unknown index type %d", type);
    if (p->nlist < 0 || p->nprobe < 0 || p->m < 0 || p->ef_construction < 0 || p->ef_search < 0)
        return tt_err_set(err, TT_EINVAL, "index parameters must not be negative");
    if (p->m == 1 || p->m > 256)
        return tt_err_set_field(err, TT_EINVAL, "m", "HNSW m must be 2..256 (got %d)", p->m);
    if (p->nlist > n)
        return tt_err_set_field(err, TT_EINVAL, "nlist",
                                "nlist %d exceeds the %lld vectors to index", p->nlist,
                                (long long)n);
    return 0;
}

static void report(const tt_ann_params *p, const char *stage, int64_t done, int64_t total)
{
    if (p->progress)
        p->progress(p->progress_ctx, stage, done, total);
}

/*
 * Adds the vectors a slice at a time so the build can say how far it got: the same index as
 * one add (HNSW inserts one vector after another anyway, IVF assigns each to its list).
 * Slices of 2% keep each one large enough for all threads.
 */
static void add_in_slices(faiss::Index *ix, const float *x, int64_t n, int d,
                          const tt_ann_params *p)
{
    int64_t slice = p->progress ? std::max<int64_t>(n / 50, 2048) : n;

    report(p, "add", 0, n);
    for (int64_t at = 0; at < n; at += slice) {
        int64_t len = std::min(slice, n - at);
        ix->add(len, x + at * d);
        report(p, "add", at + len, n);
    }
}

int tt_ann_build(const float *x, int64_t n, int d, const tt_ann_params *p, tt_ann **out,
                 tt_err *err)
{
    *out = nullptr;
    int rc = check_build(n, d, p, err);
    if (rc < 0)
        return rc;
    return guarded(err, TT_EINTERNAL, "building the index", [&]() -> int {
        omp_threads th(tt_threads_resolve(p->threads));
        enum tt_ann_type type = p->type == TT_ANN_AUTO ? tt_ann_auto_type(n) : p->type;
        faiss::Index *ix = nullptr;
        try {
            if (type == TT_ANN_FLAT) {
                ix = new faiss::IndexFlatIP(d);
            } else if (type == TT_ANN_HNSW) {
                auto *h = new faiss::IndexHNSWFlat(d, p->m ? p->m : 32,
                                                   faiss::METRIC_INNER_PRODUCT);
                h->hnsw.efConstruction = p->ef_construction ? p->ef_construction : 80;
                h->hnsw.efSearch = p->ef_search ? p->ef_search : 64;
                ix = h;
            } else {
                int nlist = p->nlist ? p->nlist : default_nlist(n);
                auto *q = new faiss::IndexFlatIP(d);
                auto *ivf = new faiss::IndexIVFFlat(q, d, (size_t)nlist,
                                                    faiss::METRIC_INNER_PRODUCT);
                ivf->own_fields = true;
                ivf->cp.seed = (int)(p->seed & 0x7fffffff);
                ivf->nprobe = (size_t)(p->nprobe ? p->nprobe : 32);
                if (ivf->nprobe > (size_t)nlist)
                    ivf->nprobe = (size_t)nlist;
                ix = ivf;
                report(p, "train", 0, 0);
                ivf->train(n, x);
            }
            add_in_slices(ix, x, n, d, p);
        } catch (...) {
            delete ix;
            throw;
        }
        tt_ann *a = new tt_ann;
        a->index = ix;
        a->type = type;
        *out = a;
        return 0;
    });
}

int tt__faiss_search(const tt_ann *ix, const float *q, int64_t nq, int k, float *sim,
                     int64_t *ids, tt_err *err)
{
    return guarded(err, TT_EINTERNAL, "searching the index", [&]() -> int {
        /* A request is one query on a serving thread: no OpenMP team for it. */
        omp_threads th(nq < 8 ? 1 : tt_threads_resolve(0));
        static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "64-bit FAISS ids");
        ix->index->search(nq, q, k, sim, reinterpret_cast<faiss::Index::idx_t *>(ids));
        return 0;
    });
}

bool tt__ann_hnsw_graph(const tt_ann *ix, tt__hnsw_graph *g)
{
    auto *h = dynamic_cast<const faiss::IndexHNSW *>(ix->index);
    auto *flat = h ? dynamic_cast<const faiss::IndexFlat *>(h->storage) : nullptr;
    static_assert(sizeof(faiss::HNSW::storage_idx_t) == sizeof(int32_t), "32-bit graph ids");

    if (!flat || h->ntotal == 0 || h->hnsw.cum_nneighbor_per_level.size() < 2)
        return false;
    g->x = flat->get_xb();
    g->neighbors = h->hnsw.neighbors.data();
    g->offsets = h->hnsw.offsets.data();
    g->levels = h->hnsw.levels.data();
    g->cum = h->hnsw.cum_nneighbor_per_level.data();
    g->n_neighbors = h->hnsw.neighbors.size();
    g->n_cum = (int32_t)h->hnsw.cum_nneighbor_per_level.size();
    g->entry = h->hnsw.entry_point;
    g->max_level = h->hnsw.max_level;
    g->n = (int64_t)h->ntotal;
    g->d = (int)h->d;
    g->ef_search = h->hnsw.efSearch;
    /* The arrays must describe every node and every layer the search can visit. */
    return g->entry >= 0 && g->entry < g->n && g->max_level >= 0 &&
           g->max_level + 1 < g->n_cum && h->hnsw.offsets.size() > (size_t)g->n &&
           h->hnsw.levels.size() >= (size_t)g->n && flat->ntotal == h->ntotal;
}

int tt_ann_set_search(tt_ann *ix, int nprobe, int ef_search, tt_err *err)
{
    if (nprobe < 0 || ef_search < 0)
        return tt_err_set(err, TT_EINVAL, "nprobe and efSearch must not be negative");
    if (auto *ivf = dynamic_cast<faiss::IndexIVF *>(ix->index)) {
        if (nprobe > 0)
            ivf->nprobe = (size_t)nprobe > ivf->nlist ? ivf->nlist : (size_t)nprobe;
    } else if (auto *h = dynamic_cast<faiss::IndexHNSW *>(ix->index)) {
        if (ef_search > 0)
            h->hnsw.efSearch = ef_search;
    }
    return 0;
}

enum tt_ann_type tt_ann_type_of(const tt_ann *ix) { return ix->type; }
int tt_ann_dim(const tt_ann *ix) { return (int)ix->index->d; }
int64_t tt_ann_size(const tt_ann *ix) { return (int64_t)ix->index->ntotal; }

int tt_ann_nprobe(const tt_ann *ix)
{
    auto *ivf = dynamic_cast<const faiss::IndexIVF *>(ix->index);
    return ivf ? (int)ivf->nprobe : 0;
}

int tt_ann_nlist(const tt_ann *ix)
{
    auto *ivf = dynamic_cast<const faiss::IndexIVF *>(ix->index);
    return ivf ? (int)ivf->nlist : 0;
}

int tt_ann_ef_search(const tt_ann *ix)
{
    auto *h = dynamic_cast<const faiss::IndexHNSW *>(ix->index);
    return h ? h->hnsw.efSearch : 0;
}

int tt_ann_m(const tt_ann *ix)
{
    auto *h = dynamic_cast<const faiss::IndexHNSW *>(ix->index);
    return h ? h->hnsw.nb_neighbors(1) : 0;
}

int tt_ann_serialize(const tt_ann *ix, uint8_t **buf, size_t *len, tt_err *err)
{
    *buf = nullptr;
    *len = 0;
    return guarded(err, TT_EINTERNAL, "serialising the index", [&]() -> int {
        faiss::VectorIOWriter w;
        faiss::write_index(ix->index, &w);
        *buf = static_cast<uint8_t *>(tt_malloc(w.data.size() ? w.data.size() : 1));
        std::memcpy(*buf, w.data.data(), w.data.size());
        *len = w.data.size();
        return 0;
    });
}

int tt_ann_deserialize(const uint8_t *buf, size_t len, tt_ann **out, tt_err *err)
{
    *out = nullptr;
    return guarded(err, TT_ECORRUPT, "reading the index", [&]() -> int {
        if (!plausible(buf, len))
            return tt_err_set(err, TT_ECORRUPT, "reading the index: not a flat, IVF or HNSW "
                                                "index as this engine writes them, or sizes "
                                                "beyond its bytes");
        buffer_reader r(buf, len);
        faiss::Index *ix = faiss::read_index(&r);
        enum tt_ann_type t = type_of(ix);
        if (t == TT_ANN_AUTO || ix->metric_type != faiss::METRIC_INNER_PRODUCT) {
            delete ix;
            return tt_err_set(err, TT_ECORRUPT, "reading the index: not an inner-product "
                                                "flat, IVF or HNSW index");
        }
        if (!consistent(ix, t)) {
            delete ix;
            return tt_err_set(err, TT_ECORRUPT, "reading the index: its vectors, lists or "
                                                "graph disagree with its size");
        }
        tt_ann *a = new tt_ann;
        a->index = ix;
        a->type = t;
        *out = a;
        return 0;
    });
}

void tt_ann_free(tt_ann *ix)
{
    if (!ix)
        return;
    delete ix->index;
    delete ix;
}

const char *tt_ann_backend_version(void)
{
#define TT_STR_(x) #x
#define TT_STR(x) TT_STR_(x)
    return "faiss " TT_STR(FAISS_VERSION_MAJOR) "." TT_STR(FAISS_VERSION_MINOR) "." TT_STR(
        FAISS_VERSION_PATCH);
#undef TT_STR
#undef TT_STR_
}

} // extern "C"

