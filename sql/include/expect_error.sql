-- expect_error(sql): run a statement and return its SQLSTATE and message,
-- or 'no error'; either way nothing it did is kept (it runs in a
-- subtransaction that is always rolled back).  Key file paths (they hold the
-- data directory) are masked.  Included with \i by the regress files that
-- need it in their own database (pg_regress runs them from the repo root).
CREATE FUNCTION public.expect_error(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RAISE EXCEPTION 'no error' USING ERRCODE = 'ZX000';
EXCEPTION WHEN OTHERS THEN
  IF SQLSTATE = 'ZX000' THEN
    RETURN 'no error';
  END IF;
  RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '"[^"]*\.key"', '"<key file>"');
END
$$;
