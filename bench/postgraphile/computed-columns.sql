-- PostGraphile's side of benchmark 4: the computed columns that make its
-- schema answer the same nested read as paygraph's
--   me { wallets { balance } transactions(first: N) { amount status createdAt
--        sender { displayName } receiver { displayName } } }
-- `User.transactions` merges what a user sent and received, newest first, as
-- paygraph's ledger::transactions_of does; PostGraphile applies `first` to
-- the function, which PostgreSQL inlines, so the page is one index-ordered
-- scan per request. Installed into the bench database only.
CREATE FUNCTION users_transactions(u users) RETURNS SETOF transactions
LANGUAGE sql STABLE AS $$
  SELECT * FROM transactions
  WHERE sender_id = u.user_id OR receiver_id = u.user_id
  ORDER BY created_at DESC, transaction_id DESC
$$;

-- paygraph's customer::display_name: first name and the last name's initial.
CREATE FUNCTION users_display_name(u users) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT u.first_name || ' ' || left(u.last_name, 1) || '.'
$$;
