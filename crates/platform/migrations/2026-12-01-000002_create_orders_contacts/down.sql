DROP TABLE contacts;
DROP TABLE orders;
