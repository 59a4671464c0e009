-- Nexmark Q3. Local item suggestion: the auctions of category 10 by sellers in Oregon, Idaho
-- or California.
SELECT p.name, p.city, p.state, a.id
FROM auction AS a INNER JOIN person AS p ON a.seller = p.id
WHERE a.category = 10 AND (p.state = 'OR' OR p.state = 'ID' OR p.state = 'CA');
