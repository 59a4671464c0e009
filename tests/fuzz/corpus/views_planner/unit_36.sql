SELECT now() AS t FROM pin
