SELECT ind, country FROM pin JOIN geo USING (ind)
