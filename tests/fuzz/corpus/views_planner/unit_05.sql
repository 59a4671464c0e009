SELECT category FROM pin UNION SELECT country FROM geo
