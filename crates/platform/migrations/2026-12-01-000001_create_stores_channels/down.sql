DROP TABLE channels;
DROP TABLE stores;
