int eng_placeholder(void); int eng_placeholder(void) { return 0; }
