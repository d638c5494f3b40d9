/*
 * pg_connect.c - connect to PostgreSQL with credentials kept by coffer.
 *
 * The C counterpart of the reference's
 *
 *     conn = psycopg2.connect(**st.secrets.db_credentials)
 *
 * It reads the [db_credentials] table from the usual secrets files
 * ($HOME/.streamlit/secrets.toml, then ./.streamlit/secrets.toml; or the
 * files named by COFFER_SECRETS_FILES), for example
 *
 *     [db_credentials]
 *     host = "127.0.0.1"
 *     port = 5432              # integers are passed as "5432"
 *     dbname = "app"
 *     user = "app"
 *     password = "change me"
 *
 * and hands the table to libpq as-is: every member becomes one libpq
 * connection keyword, so any keyword libpq knows (sslmode, connect_timeout,
 * application_name, ...) can be added to the file without touching the
 * code. Then it runs one query and prints the rows, fields separated by '|'
 * (as `psql -At` does).
 *
 * Usage: pg_connect [QUERY]        (default: SELECT current_user, 6*7)
 * Exit status: 0 success; 1 connection or query failed; 2 usage;
 *              3 no secrets found; 4 [db_credentials] missing or not a
 *              table of scalars; 5 a secrets file is unreadable or invalid.
 *
 * Build: cc pg_connect.c -I/usr/include/postgresql -lcoffer -lpq -lsodium
 *
 * Secrets never reach stdout or stderr: coffer's messages hold key names
 * and paths only, and libpq's messages never quote the password.
 */
#include <coffer.h>
#include <libpq-fe.h>

#include <stdio.h>
#include <string.h>

#define DEFAULT_QUERY "SELECT current_user, 6*7"
#define SECTION "db_credentials"

/* Prints a coffer error as "pg_connect: FILE:LINE:COL: MESSAGE" and maps
 * it to the exit status documented above. */
static int fail(const char *what, const coffer_error *err)
{
    char buf[COFFER_ERROR_PATH_MAX + COFFER_ERROR_MESSAGE_MAX + 64];
    fprintf(stderr, "pg_connect: %s: %s\n", what,
            coffer_error_format(err, buf, sizeof buf));
    switch (err->code) {
    case COFFER_ENOSECRETS:
        return 3;
    case COFFER_ENOKEY:
    case COFFER_ETYPE:
        return 4;
    default:
        return 5;
    }
}

/* Prints every row of a result, one line per row, fields joined by '|'. */
static void print_rows(const PGresult *res)
{
    int rows = PQntuples(res), cols = PQnfields(res);
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
            if (c)
                putchar('|');
            if (!PQgetisnull(res, r, c))
                fputs(PQgetvalue(res, r, c), stdout);
        }
        putchar('\n');
    }
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
                                   strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr, "usage: pg_connect [QUERY]\n");
        return 2;
    }
    const char *query = argc == 2 ? argv[1] : DEFAULT_QUERY;

    /* 1. Open a store on the default sources. This does no I/O yet.
     *    (A program that reads secrets from many places can use the
     *    process-wide coffer_default_store() instead; we open our own so
     *    that everything is released before exit.) */
    coffer_error err;
    coffer_store *store = NULL;
    if (coffer_store_open(NULL, &store, &err) != 0)
        return fail("cannot open the secrets store", &err);

    /* 2. The first access loads and merges the files into a snapshot, an
     *    immutable view held in locked, never-dumped memory. */
    coffer_snapshot *snap = NULL;
    if (coffer_store_acquire(store, &snap, &err) != 0) {
        int rc = fail("cannot load secrets", &err);
        coffer_store_close(store);
        return rc;
    }

    /* 3. Turn [db_credentials] into NULL-terminated keys[]/values[] arrays,
     *    exactly what PQconnectdbParams wants. A missing table fails with a
     *    message naming it (and a "did you mean" suggestion). */
    coffer_section sec;
    if (coffer_snapshot_section(snap, SECTION, &sec, &err) != 0) {
        int rc = fail("cannot read [" SECTION "]", &err);
        coffer_snapshot_release(snap);
        coffer_store_close(store);
        return rc;
    }

    /* 4. Connect. expand_dbname = 0: dbname is a database name, never a
     *    connection string, so a value cannot inject other keywords. */
    PGconn *conn = PQconnectdbParams(sec.keys, sec.values, 0);

    /* libpq has copied what it needs: wipe our copy of the credentials and
     * drop the snapshot as early as possible. */
    coffer_section_release(&sec);
    coffer_snapshot_release(snap);
    coffer_store_close(store);

    if (conn == NULL) {
        fprintf(stderr, "pg_connect: out of memory\n");
        return 1;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        /* e.g. 'password authentication failed for user "app"' */
        fprintf(stderr, "pg_connect: cannot connect: %s",
                PQerrorMessage(conn));
        PQfinish(conn);
        return 1;
    }

    /* 5. Run the query and print its rows. */
    int rc = 0;
    PGresult *res = PQexec(conn, query);
    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
        print_rows(res);
        break;
    case PGRES_COMMAND_OK:
        printf("%s\n", PQcmdStatus(res));
        break;
    default:
        fprintf(stderr, "pg_connect: query failed: %s",
                PQerrorMessage(conn));
        rc = 1;
        break;
    }
    PQclear(res);
    PQfinish(conn);
    if (fflush(stdout) != 0) {
        perror("pg_connect: stdout");
        rc = 1;
    }
    return rc;
}
