-- The soak's live view (tests/e2e/soak.yaml): posts per category and country, every pin kept by
-- a left join (a pin whose geo row has not arrived counts under a NULL country until it does:
-- its row is retracted then), over the cleaned tables.
SELECT p.category, g.country, count(*) AS posts
FROM pin p LEFT JOIN geo g ON p.ind = g.ind
GROUP BY p.category, g.country
