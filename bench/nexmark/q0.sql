-- Nexmark Q0. Pass-through: every bid, as it arrives (measures the source, the view's
-- operators and its table's commits with no query work).
SELECT auction, bidder, price, date_time, extra FROM bid;
