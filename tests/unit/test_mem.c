/* test_mem.c - arena, allocators, constant-time compare, secure buffers. */
#include "testutil.h"

static size_t released_bytes;
static void *count_alloc(void *ctx, size_t n) { (void)ctx; return malloc(n); }
static void count_release(void *ctx, void *p, size_t n)
{
    (void)ctx;
    /* The arena must have wiped the block before releasing it. */
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(b[i], 0);
    released_bytes += n;
    free(p);
}
static const coffer_allocator counting = { count_alloc, count_release, NULL };

static void arena_wipes_and_releases_everything(void **state)
{
    (void)state;
    coffer_arena a;
    released_bytes = 0;
    coffer_arena_init(&a, &counting, 0);
    for (int i = 0; i < 1000; i++) {
        char *p = coffer_arena_alloc(&a, 40);
        assert_non_null(p);
        memset(p, 'S', 40);
    }
    char *big = coffer_arena_alloc(&a, 1 << 20);
    assert_non_null(big);
    memset(big, 'B', 1 << 20);
    void *blk = malloc(4096);
    memset(blk, 'A', 4096);
    assert_int_equal(coffer_arena_adopt(&a, blk, 4096), 0);
    size_t total = a.total;
    assert_true(total >= 1000 * 40 + (1 << 20) + 4096);
    coffer_arena_release(&a);
    assert_int_equal(released_bytes, total);
}

static void arena_blocks_are_reused(void **state)
{
    (void)state;
    coffer_arena a;
    coffer_arena_init(&a, NULL, 0);
    void *b1 = coffer_arena_block(&a, 6);
    assert_non_null(b1);
    coffer_arena_unblock(&a, b1, 6);
    void *b2 = coffer_arena_block(&a, 6);
    assert_ptr_equal(b1, b2);
    void *b3 = coffer_arena_block(&a, 6);
    assert_ptr_not_equal(b2, b3);
    assert_null(coffer_arena_block(&a, 2));
    coffer_arena_release(&a);
}

static void arena_alignment(void **state)
{
    (void)state;
    coffer_arena a;
    coffer_arena_init(&a, NULL, 0);
    for (size_t i = 1; i < 100; i++) {
        void *p = coffer_arena_alloc(&a, i);
        assert_int_equal((uintptr_t)p % 8, 0);
    }
    coffer_arena_release(&a);
}

static void equal_ct_semantics(void **state)
{
    (void)state;
    assert_true(coffer_equal_ct("abc", 3, "abc", 3));
    assert_false(coffer_equal_ct("abc", 3, "abd", 3));
    assert_false(coffer_equal_ct("abc", 3, "abcd", 4));
    assert_true(coffer_equal_ct("", 0, "", 0));
    assert_false(coffer_equal_ct("", 0, "a", 1));
}

static void secbuf_grows_and_keeps_content(void **state)
{
    (void)state;
    coffer_secbuf b = { 0 };
    for (int i = 0; i < 1000; i++)
        assert_int_equal(coffer_secbuf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data + 9990, "0123456789", 10);
    coffer_secbuf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void secure_allocator_roundtrip(void **state)
{
    (void)state;
    const coffer_allocator *s = coffer_allocator_secure();
    char *p = s->alloc(s->ctx, 100);
    assert_non_null(p);
    memset(p, 1, 100);
    s->release(s->ctx, p, 100);
}

static void error_format_and_strerror(void **state)
{
    (void)state;
    coffer_error e;
    char buf[512];
    coffer_error_set(&e, COFFER_ESYNTAX, "/x/secrets.toml", 3, 7,
                     "expected '=' after key '%s'", "pw");
    assert_string_equal(coffer_error_format(&e, buf, sizeof buf),
                        "/x/secrets.toml:3:7: expected '=' after key 'pw'");
    coffer_error_clear(&e);
    assert_int_equal(e.code, 0);
    assert_string_equal(coffer_strerror(COFFER_ENOKEY), "key not found");
    assert_int_equal(coffer_error_set(NULL, COFFER_EIO, NULL, 0, 0, "x"), COFFER_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_wipes_and_releases_everything),
        cmocka_unit_test(arena_blocks_are_reused),
        cmocka_unit_test(arena_alignment),
        cmocka_unit_test(equal_ct_semantics),
        cmocka_unit_test(secbuf_grows_and_keeps_content),
        cmocka_unit_test(secure_allocator_roundtrip),
        cmocka_unit_test(error_format_and_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
