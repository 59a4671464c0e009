SELECT category FROM pin INTERSECT SELECT country FROM geo
