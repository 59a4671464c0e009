SELECT categry FROM pin
