-- The ledger invariants, checked after the benchmarks (bench/run prints them).
-- Every line: the check, what was found, and OK or FAIL.

\echo 'check | found | verdict'

-- Money is created only by completed deposits and destroyed only by
-- completed withdrawals; fees move inside the books (the fee wallet counts).
WITH bal AS (
  SELECT currency, SUM(balance_minor) AS total FROM wallets GROUP BY currency
), flow AS (
  SELECT currency,
         SUM(CASE WHEN transaction_type = 'deposit' THEN amount_minor ELSE 0 END)
       - SUM(CASE WHEN transaction_type = 'withdrawal' THEN amount_minor ELSE 0 END) AS net
  FROM transactions WHERE status = 'completed' GROUP BY currency
)
SELECT 'sum of balances = completed deposits - withdrawals (' || COALESCE(bal.currency, flow.currency) || ')',
       COALESCE(bal.total, 0) || ' = ' || COALESCE(flow.net, 0),
       CASE WHEN COALESCE(bal.total, 0) = COALESCE(flow.net, 0) THEN 'OK' ELSE 'FAIL' END
FROM bal FULL JOIN flow ON bal.currency = flow.currency;

SELECT 'wallets with a negative part', COUNT(*),
       CASE WHEN COUNT(*) = 0 THEN 'OK' ELSE 'FAIL' END
FROM wallets
WHERE balance_minor < 0 OR available_balance_minor < 0 OR frozen_balance_minor < 0;

SELECT 'wallets where balance <> available + frozen', COUNT(*),
       CASE WHEN COUNT(*) = 0 THEN 'OK' ELSE 'FAIL' END
FROM wallets WHERE balance_minor <> available_balance_minor + frozen_balance_minor;

-- Each history row starts where the one before it ended, in sequence
-- order (the wallet's version after the change, taken under the wallet's
-- lock: commit order, whichever instance wrote the row; times and v7 ids
-- come from each instance's own clock and do not follow it); the first
-- starts at 0 and the last ends at the wallet's balance.
WITH h AS (
  SELECT wallet_id, balance_before_minor, balance_after_minor, amount_minor,
         LAG(balance_after_minor, 1, 0::bigint) OVER (PARTITION BY wallet_id ORDER BY sequence) AS prev_after
  FROM balance_history
)
SELECT 'history rows not chained to the previous row', COUNT(*) FILTER (WHERE balance_before_minor <> prev_after OR balance_after_minor - balance_before_minor <> amount_minor),
       CASE WHEN COUNT(*) FILTER (WHERE balance_before_minor <> prev_after OR balance_after_minor - balance_before_minor <> amount_minor) = 0 THEN 'OK' ELSE 'FAIL' END
FROM h;

WITH last AS (
  SELECT DISTINCT ON (wallet_id) wallet_id, balance_after_minor, sequence
  FROM balance_history ORDER BY wallet_id, sequence DESC
)
SELECT 'wallets whose balance is not their last history row, or whose version is below it', COUNT(*),
       CASE WHEN COUNT(*) = 0 THEN 'OK' ELSE 'FAIL' END
FROM wallets w LEFT JOIN last l ON l.wallet_id = w.wallet_id
WHERE w.balance_minor <> COALESCE(l.balance_after_minor, 0) OR w.version < COALESCE(l.sequence, 0);

SELECT 'history rows', COUNT(*), '' FROM balance_history;

SELECT 'idempotency keys used twice (user, key)', COUNT(*),
       CASE WHEN COUNT(*) = 0 THEN 'OK' ELSE 'FAIL' END
FROM (SELECT user_id, idempotency_key FROM idempotency_keys GROUP BY 1, 2 HAVING COUNT(*) > 1) d;

SELECT 'transactions produced by more than one key', COUNT(*),
       CASE WHEN COUNT(*) = 0 THEN 'OK' ELSE 'FAIL' END
FROM (SELECT transaction_id FROM idempotency_keys WHERE transaction_id IS NOT NULL GROUP BY 1 HAVING COUNT(*) > 1) d;

SELECT 'transfers and deposits without their key', COUNT(*),
       CASE WHEN COUNT(*) = 0 THEN 'OK' ELSE 'FAIL' END
FROM transactions t
WHERE t.transaction_type IN ('transfer', 'deposit')
  AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.transaction_id = t.transaction_id);

-- No foreign key holds this since a transfer takes its key already bound.
SELECT 'keys bound to no transaction', COUNT(*),
       CASE WHEN COUNT(*) = 0 THEN 'OK' ELSE 'FAIL' END
FROM idempotency_keys k
WHERE k.transaction_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.transaction_id = k.transaction_id);

-- The outgoing tallies (KYC limit, velocity) recounted from the payments,
-- per sender, currency and minute.
WITH recount AS (
  SELECT sender_id AS u, currency AS c, date_trunc('minute', created_at) AS m, COUNT(*) AS p, SUM(amount_minor) AS a
  FROM transactions
  WHERE transaction_type IN ('transfer', 'withdrawal') AND status NOT IN ('failed', 'cancelled', 'reversed')
  GROUP BY 1, 2, 3
), tallied AS (
  SELECT user_id AS u, currency AS c, minute AS m, payments AS p, amount_minor AS a
  FROM outgoing_tallies WHERE payments <> 0 OR amount_minor <> 0
)
SELECT 'tally rows that differ from the payments they count', COUNT(*),
       CASE WHEN COUNT(*) = 0 THEN 'OK' ELSE 'FAIL' END
FROM ((SELECT * FROM recount EXCEPT SELECT * FROM tallied) UNION ALL (SELECT * FROM tallied EXCEPT SELECT * FROM recount)) d;

SELECT 'transactions by type and status', string_agg(transaction_type || '/' || status || ': ' || n, ', ' ORDER BY transaction_type, status), ''
FROM (SELECT transaction_type, status, COUNT(*) AS n FROM transactions GROUP BY 1, 2) s;
