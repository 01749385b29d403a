DROP TABLE brand_kits;
