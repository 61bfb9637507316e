/* consentkit._scan: the markup scan of automatic blocking, compiled.
 *
 * scan(body, needles, max_tag) finds, in a whole HTML body, the <script>, <img>
 * and <iframe> start tags that automatic blocking must decide on: those in markup
 * (not in a comment or the text of <script>, <style>, <textarea> or <title>) with
 * one of `needles` (lowercase host names) whole between their name and their end.
 * It follows TagRewriter's pure-Python scan rule for rule, without lowercasing the
 * body (ASCII case is folded as it reads). It returns a list of
 * (kind, start, name_end, end) tuples (kind 1: script, 3: img or iframe), or None
 * when an <img> or <iframe> with a needle holds a "<" in its attributes: there,
 * what follows depends on whether the tag is gated, so the caller falls back to
 * the pure-Python scan.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#define NAME_END 1      /* \t \n \f \r space / > : where a tag name ends */
#define SPACE 2         /* \t \n \f \r space */
#define SPACE_SLASH 4   /* space or / */
#define ATTR_STOP 8     /* ends an attribute name: space / > = */
#define UNQUOTED_STOP 16 /* ends an unquoted value: space > */

static unsigned char lower[256];
static unsigned char classes[256];

static void
init_tables(void)
{
    for (int c = 0; c < 256; c++) {
        lower[c] = (unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    const char *spaces = "\t\n\f\r ";
    for (const char *p = spaces; *p; p++) {
        classes[(unsigned char)*p] |= NAME_END | SPACE | SPACE_SLASH | ATTR_STOP | UNQUOTED_STOP;
    }
    classes['/'] |= NAME_END | SPACE_SLASH | ATTR_STOP;
    classes['>'] |= NAME_END | ATTR_STOP | UNQUOTED_STOP;
    classes['='] |= ATTR_STOP;
}

/* Whether s[0:len] equals the lowercase `word`, ignoring ASCII case. */
static inline int
equal_folded(const unsigned char *s, const char *word, Py_ssize_t len)
{
    for (Py_ssize_t k = 0; k < len; k++) {
        if (lower[s[k]] != (unsigned char)word[k]) {
            return 0;
        }
    }
    return 1;
}

/* Where the start tag whose attributes begin at i ends (after its ">"), or -1 if
 * the body ends first. The HTML tokenizer's rules: a ">" in a quoted value does
 * not end the tag; quotes count only at the start of a value. */
static Py_ssize_t
tag_end(const unsigned char *s, Py_ssize_t n, Py_ssize_t i)
{
    for (;;) {
        while (i < n && (classes[s[i]] & SPACE_SLASH)) {
            i++;
        }
        if (i >= n) {
            return -1;
        }
        if (s[i] == '>') {
            return i + 1;
        }
        i++; /* an attribute name's first character may be anything else, even "=" */
        while (i < n && !(classes[s[i]] & ATTR_STOP)) {
            i++;
        }
        Py_ssize_t j = i;
        while (j < n && (classes[s[j]] & SPACE)) {
            j++;
        }
        if (j < n && s[j] == '=') {
            j++;
            while (j < n && (classes[s[j]] & SPACE)) {
                j++;
            }
            if (j < n && (s[j] == '"' || s[j] == '\'')) {
                const unsigned char *q = memchr(s + j + 1, s[j], (size_t)(n - j - 1));
                if (q == NULL) {
                    return -1;
                }
                i = (q - s) + 1;
            }
            else {
                while (j < n && !(classes[s[j]] & UNQUOTED_STOP)) {
                    j++;
                }
                i = j;
            }
        }
    }
}

static Py_ssize_t
name_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t limit)
{
    while (i < limit && !(classes[s[i]] & NAME_END)) {
        i++;
    }
    return i;
}

/* Whether the "<" at `start` is inside a quoted value of the tag before it. */
static int
inside_a_tag(const unsigned char *s, Py_ssize_t n, Py_ssize_t start, Py_ssize_t max_tag)
{
    Py_ssize_t low = start > max_tag ? start - max_tag : 0;
    Py_ssize_t before = start - 1;
    while (before >= low && s[before] != '<') {
        before--;
    }
    if (before < low) {
        return 0;
    }
    unsigned char c = lower[s[before + 1]];
    if (c < 'a' || c > 'z') {
        return 0;
    }
    Py_ssize_t end = tag_end(s, n, name_end(s, before + 2, start));
    return end < 0 || end > start;
}

/* Where the lowercase `word` (starting with "<") first occurs at or after i,
 * ignoring ASCII case; -1 if nowhere. */
static Py_ssize_t
find_folded(const unsigned char *s, Py_ssize_t n, Py_ssize_t i, const char *word, Py_ssize_t len)
{
    while (i + len <= n) {
        const unsigned char *p = memchr(s + i, word[0], (size_t)(n - len + 1 - i));
        if (p == NULL) {
            return -1;
        }
        i = p - s;
        if (equal_folded(s + i + 1, word + 1, len - 1)) {
            return i;
        }
        i++;
    }
    return -1;
}

/* Where "-->" first occurs at or after i; -1 if nowhere. */
static Py_ssize_t
comment_end(const unsigned char *s, Py_ssize_t n, Py_ssize_t i)
{
    while (i + 3 <= n) {
        const unsigned char *p = memchr(s + i + 2, '>', (size_t)(n - i - 2));
        if (p == NULL) {
            return -1;
        }
        Py_ssize_t gt = p - s;
        if (s[gt - 1] == '-' && s[gt - 2] == '-') {
            return gt - 2;
        }
        i = gt - 1;
    }
    return -1;
}

/* Whether the byte after a "<" may start what the scan stops at ("!", s, t or i). */
static inline int
may_open(unsigned char c)
{
    c = lower[c];
    return c == '!' || c == 's' || c == 't' || c == 'i';
}

/* Where the next "<" at or after i that may open something the scan stops at is; -1 if
 * none. Most "<" (</p>, <a, <div...) are passed over sixteen bytes at a time where SSE2 is. */
static Py_ssize_t
next_open(const unsigned char *s, Py_ssize_t n, Py_ssize_t i)
{
#if defined(__SSE2__) && defined(__GNUC__)
    const __m128i lt = _mm_set1_epi8('<'), bang = _mm_set1_epi8('!'), fold = _mm_set1_epi8(0x20);
    const __m128i ls = _mm_set1_epi8('s'), lt2 = _mm_set1_epi8('t'), li = _mm_set1_epi8('i');
    while (i + 17 <= n) {
        __m128i here = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i next = _mm_loadu_si128((const __m128i *)(s + i + 1));
        __m128i folded = _mm_or_si128(next, fold); /* S, T, I as s, t, i (and only them) */
        __m128i wanted = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(folded, ls), _mm_cmpeq_epi8(folded, lt2)),
            _mm_or_si128(_mm_cmpeq_epi8(folded, li), _mm_cmpeq_epi8(next, bang)));
        int mask = _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(here, lt), wanted));
        if (mask) {
            return i + __builtin_ctz((unsigned int)mask);
        }
        i += 16;
    }
#endif
    while (i < n) {
        const unsigned char *p = memchr(s + i, '<', (size_t)(n - i));
        if (p == NULL) {
            return -1;
        }
        i = p - s;
        if (i + 1 < n && may_open(s[i + 1])) {
            return i;
        }
        i++;
    }
    return -1;
}

typedef struct {
    const unsigned char *text;
    Py_ssize_t len;
} Needle;

typedef struct {
    const Needle *needles;
    Py_ssize_t count;
    unsigned char first[256]; /* which (lowercase) bytes a needle starts with */
} Needles;

/* Whether one of the needles lies whole in s[lo:hi], ignoring ASCII case. */
static int
has_needle(const unsigned char *s, Py_ssize_t lo, Py_ssize_t hi, const Needles *needles)
{
    for (Py_ssize_t i = lo; i < hi; i++) {
        unsigned char c = lower[s[i]];
        if (!needles->first[c]) {
            continue;
        }
        for (Py_ssize_t k = 0; k < needles->count; k++) {
            const Needle *needle = &needles->needles[k];
            if (needle->text[0] == c && i + needle->len <= hi
                && equal_folded(s + i + 1, (const char *)needle->text + 1, needle->len - 1)) {
                return 1;
            }
        }
    }
    return 0;
}

enum { COMMENT = 0, SCRIPT = 1, RAW = 2, LOADS = 3 };

static int
append(PyObject *found, int kind, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t end)
{
    PyObject *item = Py_BuildValue("(innn)", kind, start, stop, end);
    if (item == NULL) {
        return -1;
    }
    int failed = PyList_Append(found, item);
    Py_DECREF(item);
    return failed;
}

static PyObject *
scan_body(const unsigned char *s, Py_ssize_t n, const Needles *needles, Py_ssize_t max_tag)
{
    PyObject *found = PyList_New(0);
    if (found == NULL) {
        return NULL;
    }
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t start = next_open(s, n, i);
        if (start < 0) {
            break;
        }
        Py_ssize_t left = n - start - 1; /* bytes after the "<" */
        int kind;
        const char *end_tag = NULL;
        Py_ssize_t len;
        unsigned char c = left > 0 ? lower[s[start + 1]] : 0;
        if (c == '!' && left >= 3 && s[start + 2] == '-' && s[start + 3] == '-') {
            kind = COMMENT;
            len = 4;
        }
        else if (c == 's' && left >= 6 && equal_folded(s + start + 2, "cript", 5)) {
            kind = SCRIPT, len = 7, end_tag = "</script";
        }
        else if (c == 's' && left >= 5 && equal_folded(s + start + 2, "tyle", 4)) {
            kind = RAW, len = 6, end_tag = "</style";
        }
        else if (c == 't' && left >= 8 && equal_folded(s + start + 2, "extarea", 7)) {
            kind = RAW, len = 9, end_tag = "</textarea";
        }
        else if (c == 't' && left >= 5 && equal_folded(s + start + 2, "itle", 4)) {
            kind = RAW, len = 6, end_tag = "</title";
        }
        else if (c == 'i' && left >= 3 && equal_folded(s + start + 2, "mg", 2)) {
            kind = LOADS, len = 4;
        }
        else if (c == 'i' && left >= 6 && equal_folded(s + start + 2, "frame", 5)) {
            kind = LOADS, len = 7;
        }
        else {
            i = start + 1;
            continue;
        }
        Py_ssize_t stop = start + len; /* where the name ends */
        if (kind == COMMENT) { /* "<!-->" and "<!--->" are whole comments */
            if (stop < n && s[stop] == '>') {
                i = stop + 1;
            }
            else if (stop + 1 < n && s[stop] == '-' && s[stop + 1] == '>') {
                i = stop + 2;
            }
            else {
                Py_ssize_t close = comment_end(s, n, stop);
                if (close < 0) {
                    break; /* the rest is a comment */
                }
                i = close + 3;
            }
            continue;
        }
        if (stop < n && !(classes[s[stop]] & NAME_END)) {
            i = stop; /* "<scripts", "<images": another element */
            continue;
        }
        Py_ssize_t end = tag_end(s, n, stop);
        if (end < 0) {
            if (kind != LOADS) {
                break; /* cut off: the rest passes as it is */
            }
            i = stop;
            continue;
        }
        if (kind != RAW && end - start <= max_tag && has_needle(s, stop, end, needles)) {
            if (kind == SCRIPT) {
                if (append(found, kind, start, stop, end) < 0) {
                    goto error;
                }
            }
            else if (!inside_a_tag(s, n, start, max_tag)) {
                if (memchr(s + start + 1, '<', (size_t)(end - start - 1)) != NULL) {
                    Py_DECREF(found);
                    Py_RETURN_NONE;
                }
                if (append(found, kind, start, stop, end) < 0) {
                    goto error;
                }
            }
        }
        if (kind == LOADS) {
            i = stop;
            continue;
        }
        Py_ssize_t tag_len = (Py_ssize_t)strlen(end_tag);
        Py_ssize_t close = find_folded(s, n, end, end_tag, tag_len);
        if (close < 0) {
            break; /* the rest is the element's text */
        }
        i = close + tag_len;
    }
    return found;
error:
    Py_DECREF(found);
    return NULL;
}

static PyObject *
scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyBytes_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "scan(body: bytes, needles: tuple[bytes, ...], max_tag: int)");
        return NULL;
    }
    Py_ssize_t max_tag = PyLong_AsSsize_t(args[2]);
    if (max_tag == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(args[1]);
    Needle *needles = PyMem_New(Needle, count > 0 ? count : 1);
    if (needles == NULL) {
        return PyErr_NoMemory();
    }
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *item = PyTuple_GET_ITEM(args[1], k);
        if (!PyBytes_Check(item) || PyBytes_GET_SIZE(item) == 0) {
            PyMem_Free(needles);
            PyErr_SetString(PyExc_TypeError, "needles must be non-empty bytes");
            return NULL;
        }
        needles[k].text = (const unsigned char *)PyBytes_AS_STRING(item);
        needles[k].len = PyBytes_GET_SIZE(item);
    }
    Needles set = {needles, count, {0}};
    for (Py_ssize_t k = 0; k < count; k++) {
        set.first[lower[needles[k].text[0]]] = 1;
    }
    PyObject *found = scan_body((const unsigned char *)PyBytes_AS_STRING(args[0]),
                                PyBytes_GET_SIZE(args[0]), &set, max_tag);
    PyMem_Free(needles);
    return found;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(body, needles, max_tag) -> list of (kind, start, name_end, end), or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "consentkit._scan", "The markup scan of automatic blocking, compiled.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    init_tables();
    return PyModule_Create(&module);
}
