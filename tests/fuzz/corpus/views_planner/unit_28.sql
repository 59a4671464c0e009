SELECT title FROM pin WHERE ind = (SELECT ind FROM geo)
