SELECT title FROM pin WHERE ind IN (SELECT ind FROM geo)
