WITH t(k, c) AS (SELECT ind, category FROM pin) SELECT k, c FROM t
