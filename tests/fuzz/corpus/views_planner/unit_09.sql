SELECT title FROM pin ORDER BY follower_count DESC LIMIT 3
