SELECT title FROM pin WHERE follower_count > (SELECT avg(age) FROM user)
