-- Nexmark Q2. Selection: the bids of a few auctions (MOD(auction, 123) = 0 in the original).
SELECT auction, price FROM bid WHERE auction % 123 = 0;
