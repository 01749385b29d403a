DROP TABLE output_labels;
