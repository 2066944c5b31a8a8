/*
 * test_maildrop: the names and bounds of maildrop files (lib/maildrop):
 * what pickup takes for a file, a temp file or neither, and the size it
 * refuses beyond.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "ipc.h"
#include "maildrop.h"
#include "proto.h"

static void
test_names(void **state)
{
	char a[64], b[64], t[64];

	(void)state;
	assert_int_equal(maildrop_name(a, sizeof(a), 0), 0);
	assert_int_equal(maildrop_name(b, sizeof(b), 0), 0);
	assert_int_equal(maildrop_name(t, sizeof(t), 1), 0);
	assert_int_equal(strlen(a), MAILDROP_NAME_LEN);
	assert_string_not_equal(a, b);		/* random bits */
	assert_true(strncmp(a, b, 8) <= 0);	/* time first: sorted */
	assert_int_equal(maildrop_kind(a), MD_FILE);
	assert_int_equal(maildrop_kind(t), MD_TEMP);
	assert_memory_equal(t, MAILDROP_TEMP, strlen(MAILDROP_TEMP));
	/* too small a buffer: refused, never cut */
	assert_int_equal(maildrop_name(a, MAILDROP_NAME_LEN, 0), -1);
	assert_int_equal(maildrop_name(a, MAILDROP_NAME_LEN + 2, 1), -1);
}

static void
test_kinds(void **state)
{
	(void)state;
	assert_int_equal(maildrop_kind("0006617AAEDAE7E12325EDCF"), MD_FILE);
	assert_int_equal(maildrop_kind("t.0006617AAEDAE7E12325EDCF"),
	    MD_TEMP);
	assert_int_equal(maildrop_kind("0006617aaedae7e12325edcf"), MD_OTHER);
	assert_int_equal(maildrop_kind("0006617AAEDAE7E12325EDC"), MD_OTHER);
	assert_int_equal(maildrop_kind("0006617AAEDAE7E12325EDCF0"),
	    MD_OTHER);
	assert_int_equal(maildrop_kind("../6617AAEDAE7E12325EDCF"), MD_OTHER);
	assert_int_equal(maildrop_kind("t."), MD_OTHER);
	assert_int_equal(maildrop_kind(""), MD_OTHER);
	assert_int_equal(maildrop_kind("."), MD_OTHER);
	assert_int_equal(maildrop_kind("t.t.0006617AAEDAE7E12325EDCF"),
	    MD_OTHER);
}

/* name i of a sorted set, in hex as maildrop names are */
static void
nth(char *out, unsigned i)
{
	snprintf(out, MAILDROP_NAME_LEN + 1, "%016X%08X", i * 7u, i);
}

/* Passes of at most max names reach every name once, oldest first,
 * whatever order the directory lists them in. */
static void
test_batch(void **state)
{
	enum { N = 2500, MAX = 1000 };
	static unsigned seen[N];
	struct maildrop_batch b;
	char name[MAILDROP_NAME_LEN + 1], after[MAILDROP_NAME_LEN + 1] = "";
	unsigned next = 0, passes = 0;

	(void)state;
	do {
		maildrop_batch_init(&b, MAX, after);
		for (unsigned k = 0; k < N; k++) {
			nth(name, (k * 1103u) % N);	/* a scrambled order */
			maildrop_batch_add(&b, name);
		}
		maildrop_batch_add(&b, "garbage");	/* not a name */
		maildrop_batch_done(&b);
		assert_true(b.n <= MAX);
		for (size_t i = 0; i < b.n; i++) {
			nth(name, next);
			assert_string_equal(b.names[i], name);
			seen[next++]++;
		}
		snprintf(after, sizeof(after), "%s", b.more ?
		    b.names[b.n - 1] : "");
		maildrop_batch_free(&b);
		passes++;
	} while (after[0] != '\0' && passes < 10);
	assert_int_equal(passes, 3);
	assert_int_equal(next, N);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	/* fewer than max: one pass, nothing more */
	maildrop_batch_init(&b, MAX, "");
	nth(name, 5);
	maildrop_batch_add(&b, name);
	maildrop_batch_done(&b);
	assert_int_equal(b.n, 1);
	assert_false(b.more);
	maildrop_batch_free(&b);
}

/* Only what public/cleanup honours goes into the file, and the uid. */
static void
test_open(void **state)
{
	struct cleanup_open in, d;
	struct ipc_msg m;
	struct buf b;
	char *rcpt[] = { "a@b" }, err[128];

	(void)state;
	cleanup_open_init(&in);
	in.sender = "s@x";
	in.rcpt = rcpt;
	in.nrcpt = 1;
	in.full_name = "Full";
	in.extract = 1;
	in.helo = "forged.example";
	in.auth_user = "admin";
	in.msa = 1;
	in.received = 0;
	in.max_size = 1;
	in.uid = 0;
	buf_init(&b, IPC_MAX_FRAME + 4);
	ipc_msg_init(&m);
	assert_int_equal(maildrop_open_encode(&b, &in, 1002), 0);
	assert_int_equal(ipc_parse(&m, b.data + 4, b.len - 4), 0);
	assert_int_equal(cleanup_open_decode(&m, &d, err, sizeof(err)), 0);
	assert_string_equal(d.sender, "s@x");
	assert_int_equal(d.nrcpt, 1);
	assert_string_equal(d.full_name, "Full");
	assert_true(d.extract && d.received && !d.msa);
	assert_null(d.helo);
	assert_null(d.auth_user);
	assert_int_equal(d.max_size, 0);
	assert_int_equal(d.uid, 1002);
	cleanup_open_free(&d);
	ipc_msg_free(&m);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_batch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
