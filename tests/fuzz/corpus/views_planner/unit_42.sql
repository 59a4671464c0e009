SELECT ind FROM pin WHERE follower_count > -3 AND ind <> 0 AND ind > - 12
