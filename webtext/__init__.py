"""webtext"""
